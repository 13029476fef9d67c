package oggopus

import "fmt"

// MaxPacketSamples is the longest Opus packet, 120 ms at 48 kHz.
const MaxPacketSamples = 5760

// frameSamples holds the frame length in 48 kHz samples of each TOC
// configuration number (RFC 6716, section 3.1, table 2).
var frameSamples = [32]int{
	480, 960, 1920, 2880, // SILK-only NB
	480, 960, 1920, 2880, // SILK-only MB
	480, 960, 1920, 2880, // SILK-only WB
	480, 960, // Hybrid SWB
	480, 960, // Hybrid FB
	120, 240, 480, 960, // CELT-only NB
	120, 240, 480, 960, // CELT-only WB
	120, 240, 480, 960, // CELT-only SWB
	120, 240, 480, 960, // CELT-only FB
}

// PacketSamples returns the duration of an Opus packet in 48 kHz samples,
// read from its TOC byte and frame count. It checks the packet's framing
// (RFC 6716, section 3.2) but does not decode it.
func PacketSamples(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, fmt.Errorf("empty Opus packet: %w", ErrInvalid)
	}
	per := frameSamples[p[0]>>3]
	frames, err := packetFrames(p)
	if err != nil {
		return 0, err
	}
	if n := frames * per; n <= MaxPacketSamples {
		return n, nil
	}
	return 0, fmt.Errorf("Opus packet of %d frames lasts over 120 ms: %w", frames, ErrInvalid)
}

// packetFrames returns the number of frames in p, checking the lengths
// that its framing code implies.
func packetFrames(p []byte) (int, error) {
	switch p[0] & 3 {
	case 0:
		return 1, nil
	case 1:
		if (len(p)-1)%2 != 0 {
			return 0, fmt.Errorf("Opus packet code 1 with odd payload of %d bytes: %w", len(p)-1, ErrInvalid)
		}
		return 2, nil
	case 2:
		n, size, ok := frameLength(p[1:])
		if !ok || n+size > len(p)-1 {
			return 0, fmt.Errorf("Opus packet code 2 with bad first frame length: %w", ErrInvalid)
		}
		return 2, nil
	}
	if len(p) < 2 || p[1]&0x3f == 0 {
		return 0, fmt.Errorf("Opus packet code 3 without frame count: %w", ErrInvalid)
	}
	return int(p[1] & 0x3f), nil
}

// frameLength decodes a one- or two-byte frame length (RFC 6716, section
// 3.2.1) and returns the length and the bytes it used.
func frameLength(b []byte) (length, size int, ok bool) {
	switch {
	case len(b) == 0:
		return 0, 0, false
	case b[0] < 252:
		return int(b[0]), 1, true
	case len(b) < 2:
		return 0, 0, false
	}
	return int(b[1])*4 + int(b[0]), 2, true
}
