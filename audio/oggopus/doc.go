// Package oggopus reads and writes Ogg Opus files (RFC 7845) holding one
// logical Opus stream. It is pure Go with no cgo, so the relay can build
// stored messages without linking libopus.
//
// A file starts with a page holding the OpusHead packet and one or more
// pages holding OpusTags; audio pages follow. Each audio page's granule
// position is the 48 kHz sample count, pre-skip included, at the end of
// the last packet finished on it. The final page's granule may be smaller
// than the decoded length, which trims the end (RFC 7845, section 4.4).
package oggopus
