package proto

import "time"

// ALPN is the TLS application protocol name of this protocol version.
const ALPN = "vm/1"

// ExporterLabel and ExporterLength select the TLS exporter value that a
// Login signature covers (RFC 8446, section 7.5).
const (
	ExporterLabel  = "EXPORTER-vm-login"
	ExporterLength = 32
)

// LoginContext prefixes the signed login data so a vm login signature can
// never be mistaken for a signature made for another purpose.
const LoginContext = "vm login v1\x00"

// Limits that both ends enforce on what the peer sends.
const (
	// MaxControlSize is the largest control message, in bytes.
	MaxControlSize = 64 << 10
	// MaxOpusPacket is the largest Opus packet (RFC 6716, section 3.4).
	MaxOpusPacket = 1275
	// AEADTagSize is the size of the authentication tag an encrypted
	// frame carries after its ciphertext.
	AEADTagSize = 16
	// MaxFramePayload is the largest frame payload: an Opus packet plus
	// an AEAD tag.
	MaxFramePayload = MaxOpusPacket + AEADTagSize
	// MaxRecordSize is the largest upload record, in bytes.
	MaxRecordSize = 1 + FrameHeaderSize + MaxFramePayload
	// MaxDatagramSize is the largest voice datagram either end sends or
	// accepts: a frame header and an Opus packet of live talk, which stays
	// far below the 1,200 bytes every QUIC path carries.
	MaxDatagramSize = FrameHeaderSize + 1000
	// SampleRate is the Opus clock rate of frames and timestamps.
	SampleRate = 48000
	// FrameSamples is the length of one 20 ms frame at SampleRate.
	FrameSamples = 960
	// FrameDuration is the length of one frame.
	FrameDuration = 20 * time.Millisecond
)
