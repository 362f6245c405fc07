# The remoting server's Node addon: data-plane listener (HELLO peek + hand-off, joined connections routed to
# their session) and device telemetry. frame.cpp (the executor's frame decoder, pure) and join_channel.cpp
# (passing a joined connection to its session) are the executor's own, linked here so both front doors
# decode and route joins the same way.
# Built with `npm_config_nodedir=/usr npx node-gyp rebuild` (see mk/remoting-server.mk).
{
  "targets": [
    {
      "target_name": "avec_addon",
      "sources": [
        "src/addon.cc",
        "src/data-listener.cc",
        "src/hello-peek.cc",
        "src/telemetry.cc",
        "../executor/src/frame.cpp",
        "../executor/src/join_channel.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../../../wire",
        "../executor/src"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
