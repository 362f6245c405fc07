test-shim: shim
