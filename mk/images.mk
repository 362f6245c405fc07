# OCI image archives without a container engine (hack/images.sh, umoci): build/images/*.oci.tar.
#   make images          operator, remoting-server (executor + addon), shim
#   make test-images     check the archives (layout, digests, user, entrypoint, --help from the rootfs)
# Push: skopeo copy oci-archive:build/images/operator.oci.tar docker://REGISTRY/avec/operator:0.1.0
# (same for remoting-server and shim), then helm install ... --set imageRegistry=REGISTRY.
TEST_TARGETS += test-images

.PHONY: images test-images
images: build ## OCI image archives of operator, remoting-server and shim in build/images/ (no container engine needed)
	@hack/images.sh

test-images: images ## check the image archives: valid layout and digests, non-root, entrypoints run --help from the unpacked root
	$(E2E_NODE_TEST) e2e/dist/images/images.test.js
