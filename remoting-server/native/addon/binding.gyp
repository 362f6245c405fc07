# The remoting server's Node addon: data-plane listener (HELLO peek + hand-off) and device telemetry.
# Built with `npm_config_nodedir=/usr npx node-gyp rebuild` (see mk/remoting-server.mk).
{
  "targets": [
    {
      "target_name": "avec_addon",
      "sources": [
        "src/addon.cc",
        "src/data-listener.cc",
        "src/hello-peek.cc",
        "src/telemetry.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../../../wire"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
