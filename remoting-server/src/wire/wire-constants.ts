// GENERATED from wire/avec_wire.h by wire-gen.ts: do not edit (node remoting-server/dist/wire/wire-gen.js).
export const WIRE_MAGIC = 0x43455641; // AVEC_WIRE_MAGIC
export const WIRE_VERSION = 1; // AVEC_WIRE_VERSION
export const F_REPLY = 1; // AVEC_F_REPLY
export const OP_HELLO = 1; // AVEC_OP_HELLO
export const OP_GOODBYE = 2; // AVEC_OP_GOODBYE
export const OP_PING = 3; // AVEC_OP_PING
export const HELLO_INFO_ONLY = 1; // AVEC_HELLO_INFO_ONLY
export const DEV_ATTR_SLOTS = 160; // AVEC_DEV_ATTR_SLOTS
export const STATUS_BAD_TICKET = 65539; // AVEC_STATUS_BAD_TICKET
export const STATUS_REFUSED = 65541; // AVEC_STATUS_REFUSED
export const MAX_REFUSAL_MESSAGE = 256; // AVEC_MAX_REFUSAL_MESSAGE
export const FRAME_HEADER_BYTES = 24; // sizeof(avec_frame_hdr)
export const HELLO_BYTES = 80; // sizeof(avec_hello)
export const HELLO_REPLY_BYTES = 40; // sizeof(avec_hello_reply)
export const HELLO_REFUSAL_BYTES = 8; // sizeof(avec_hello_refusal)
export const DEVICE_INFO_BYTES = 944; // sizeof(avec_device_info)
