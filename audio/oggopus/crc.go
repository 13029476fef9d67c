package oggopus

// crcTable is the lookup table of the Ogg page checksum: CRC-32 with
// polynomial 0x04c11db7, zero initial value, no bit reflection and no
// final inversion (RFC 3533, section 6).
var crcTable = makeCRCTable()

func makeCRCTable() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}

// crcUpdate extends crc over b.
func crcUpdate(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>24)^c]
	}
	return crc
}

// Checksum returns the Ogg page checksum of page, whose checksum field
// must be zero.
func Checksum(page []byte) uint32 {
	return crcUpdate(0, page)
}
