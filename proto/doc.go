// Package proto defines the vm wire protocol between the vm client and the
// relay: QUIC with TLS 1.3, ALPN "vm/1", and RFC 9221 datagrams enabled.
//
// # Message flow
//
// A client dials the relay and opens one bidirectional stream per request.
// On each stream it writes one control message (a pb.Request) and reads
// one control message back (a pb.Response). Control messages are protobuf,
// each preceded by its length as a QUIC variable-length integer and
// limited to MaxControlSize bytes.
//
// The first request on a connection is Login: the client signs
// LoginContext followed by the connection's TLS exporter value (label
// ExporterLabel, ExporterLength bytes) with its Ed25519 identity key, so a
// login is bound to that TLS session. A key without a handle may then send
// Register. Every other request needs a logged-in, registered key.
//
// An Upload request is followed, on the same stream, by upload records
// (see AppendRecord): voice frames in sequence order, then one end record
// with the message's length in samples. The client then closes its side of
// the stream. The relay replies once the message is durable, and not
// before.
//
// A FetchMessage response is followed by the message's stored Ogg Opus
// bytes, exactly as many as the response's BlobHeader says.
//
// Voice frames (see Frame) carry one Opus packet behind a fixed 12-byte
// header. On an upload stream they arrive reliably; live forwarding sends
// the same layout as QUIC datagrams.
//
// # Live talk
//
// A client that wants live audio sends Subscribe on a stream it keeps
// open; the relay writes Event messages on it (presence, TalkStart,
// TalkEnd, stored messages, listen receipts). While a user talks, the
// client uploads with Upload.live set and writes each frame twice: as a
// record on the upload stream, so the stored copy is complete, and as a
// datagram with the upload's live handle, so it arrives without waiting
// for retransmissions. The relay forwards whichever copy of a frame comes
// first to every subscribed member of the conversation as a datagram,
// with the stream handle that member's TalkStart announced. Lost
// datagrams are concealed by the receiver, never resent; after TalkEnd a
// receiver can fill its gaps from the stored message with FollowMessage.
package proto
