package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestDecodeFileSniffs(t *testing.T) {
	wav, err := os.ReadFile("../testdata/speech-16k.wav")
	if err != nil {
		t.Fatal(err)
	}
	_, ogg := encodeOgg(t, loadWAV(t, "speech-16k.wav"))
	tests := []struct {
		name     string
		input    []byte
		rate     int
		channels int
	}{
		{"wav", wav, 16000, 1},
		{"ogg", ogg, SampleRate, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeFile(bytes.NewReader(tt.input), testLimit)
			if err != nil {
				t.Fatalf("DecodeFile: %v", err)
			}
			if p.Rate != tt.rate || p.Channels != tt.channels {
				t.Errorf("format: got %d Hz %d ch, want %d Hz %d ch", p.Rate, p.Channels, tt.rate, tt.channels)
			}
		})
	}
}

func TestDecodeFileErrors(t *testing.T) {
	_, ogg := encodeOgg(t, &PCM{Rate: 16000, Channels: 1, Samples: sine(440, 16000, 16000, 0.5)})
	badCRC := bytes.Clone(ogg)
	badCRC[len(badCRC)-1] ^= 1
	stereoMapping := rewriteHead(ogg, func(head []byte) { head[9], head[18] = 2, 1 })
	sixChannels := rewriteHead(ogg, func(head []byte) { head[9] = 6 })
	noEOS := bytes.Clone(ogg)
	noEOS = noEOS[:len(noEOS)-1] // cut inside the last page
	vorbis := rewriteHead(ogg, func(head []byte) { copy(head, "\x01vorbis\x00") })
	chained := append(bytes.Clone(ogg), rewriteSerial(ogg, 99)...)
	tests := []struct {
		name  string
		input []byte
		limit int64
		want  error
		text  string
	}{
		{"empty", nil, testLimit, ErrTruncated, "empty"},
		{"text", []byte("#!/bin/sh\necho hi\n"), testLimit, ErrNotAudio, "unknown format"},
		{"mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), testLimit, ErrNotAudio, "MP3"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), testLimit, ErrNotAudio, "FLAC"},
		{"oggCRC", badCRC, testLimit, ErrNotAudio, "CRC"},
		{"oggTruncated", noEOS, testLimit, ErrTruncated, "truncated"},
		{"oggHeadersOnly", ogg[:oggPageEnd(ogg, 2)], testLimit, ErrTruncated, "end-of-stream"},
		{"oggMapping1", stereoMapping, testLimit, ErrUnsupported, "mapping family 1"},
		{"oggSixChannels", sixChannels, testLimit, ErrNotAudio, "6 channels"},
		{"oggVorbis", vorbis, testLimit, ErrUnsupported, "not OpusHead"},
		{"oggChained", chained, testLimit, ErrUnsupported, "chained"},
		{"oggTooLarge", ogg, 500, ErrTooLarge, "500 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFile(bytes.NewReader(tt.input), tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error: got %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("message: got %q, want it to contain %q", err, tt.text)
			}
		})
	}
}

// oggPageEnd returns the offset after the first n pages of an Ogg file.
func oggPageEnd(b []byte, n int) int {
	pos := 0
	for range n {
		end := pos + oggHeaderSize + int(b[pos+26])
		for _, v := range b[pos+oggHeaderSize : pos+oggHeaderSize+int(b[pos+26])] {
			end += int(v)
		}
		pos = end
	}
	return pos
}

// rewriteHead edits the OpusHead packet of an Ogg file and fixes its CRC.
func rewriteHead(ogg []byte, edit func(head []byte)) []byte {
	out := bytes.Clone(ogg)
	edit(out[oggHeaderSize+1:])
	return fixOggCRCs(out)
}

// rewriteSerial sets the serial number of every page and fixes the CRCs.
func rewriteSerial(ogg []byte, serial uint32) []byte {
	out := bytes.Clone(ogg)
	for pos := 0; pos < len(out); pos = oggPageEnd(out[pos:], 1) + pos {
		binary.LittleEndian.PutUint32(out[pos+14:], serial)
	}
	return fixOggCRCs(out)
}
