package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// initInfo is what a rendition's init.mp4 says about its tracks.
type initInfo struct {
	video         string // RFC 6381 codec string, e.g. "avc1.64001f"
	audio         string // e.g. "mp4a.40.2"; "" when there is no sound
	width, height int    // from the video sample entry
}

// codecs is the CODECS attribute value.
func (ii initInfo) codecs() string {
	if ii.audio == "" {
		return ii.video
	}
	return ii.video + "," + ii.audio
}

// parseInit reads the codec strings and picture size from an fMP4 init
// segment: the avcC record gives the real profile, constraint flags and
// level (what x264 chose, or what the camera wrote), the esds the AAC
// object type.
func parseInit(data []byte) (initInfo, error) {
	var ii initInfo
	err := walkBoxes(data, func(typ string, payload []byte) error {
		switch typ {
		case "avc1", "avc3":
			if len(payload) >= 28 {
				ii.width = int(binary.BigEndian.Uint16(payload[24:26]))
				ii.height = int(binary.BigEndian.Uint16(payload[26:28]))
			}
		case "avcC":
			if len(payload) < 4 {
				return errors.New("short avcC")
			}
			ii.video = fmt.Sprintf("avc1.%02x%02x%02x", payload[1], payload[2], payload[3])
		case "esds":
			s, err := esdsCodec(payload)
			if err != nil {
				return err
			}
			ii.audio = s
		}
		return nil
	})
	if err != nil {
		return ii, fmt.Errorf("init segment: %w", err)
	}
	if ii.video == "" {
		return ii, errors.New("init segment: no H.264 video track")
	}
	return ii, nil
}

// sampleEntrySkip is, for each box holding child boxes, the bytes before
// the first child.
func sampleEntrySkip(typ string) (int, bool) {
	switch typ {
	case "moov", "trak", "mdia", "minf", "stbl", "dinf", "edts", "mvex":
		return 0, true
	case "stsd":
		return 8, true // version, flags, entry count
	case "avc1", "avc3":
		return 78, true // VisualSampleEntry fields
	case "mp4a":
		return 28, true // AudioSampleEntry fields
	}
	return 0, false
}

// walkBoxes calls fn for every box in data and, recursively, in the
// container boxes that lead to the sample entries.
func walkBoxes(data []byte, fn func(typ string, payload []byte) error) error {
	for len(data) >= 8 {
		size := uint64(binary.BigEndian.Uint32(data[:4]))
		typ := string(data[4:8])
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(data))
		case 1:
			if len(data) < 16 {
				return errors.New("short box header")
			}
			size, hdr = binary.BigEndian.Uint64(data[8:16]), 16
		}
		if size < hdr || size > uint64(len(data)) {
			return fmt.Errorf("box %q: bad size %d", strings.ToValidUTF8(typ, "?"), size)
		}
		payload := data[hdr:size]
		if err := fn(typ, payload); err != nil {
			return err
		}
		if skip, ok := sampleEntrySkip(typ); ok && len(payload) >= skip {
			if err := walkBoxes(payload[skip:], fn); err != nil {
				return err
			}
		}
		data = data[size:]
	}
	return nil
}

// esdsCodec reads "mp4a.<object type>.<audio object type>" from an esds
// box payload (ISO/IEC 14496-1 descriptors).
func esdsCodec(p []byte) (string, error) {
	if len(p) < 4 {
		return "", errors.New("short esds")
	}
	p = p[4:] // version, flags
	tag, body, _, err := descriptor(p)
	if err != nil || tag != 0x03 {
		return "", errors.New("esds: no ES descriptor")
	}
	if len(body) < 3 {
		return "", errors.New("esds: short ES descriptor")
	}
	flags := body[2]
	body = body[3:]
	if flags&0x80 != 0 { // stream dependence
		body = body[min(2, len(body)):]
	}
	if flags&0x40 != 0 && len(body) > 0 { // URL
		body = body[min(1+int(body[0]), len(body)):]
	}
	if flags&0x20 != 0 { // OCR stream
		body = body[min(2, len(body)):]
	}
	tag, dc, _, err := descriptor(body)
	if err != nil || tag != 0x04 || len(dc) < 13 {
		return "", errors.New("esds: no decoder config")
	}
	oti := dc[0]
	tag, dsi, _, err := descriptor(dc[13:])
	if err != nil || tag != 0x05 || len(dsi) < 1 {
		return fmt.Sprintf("mp4a.%02x", oti), nil
	}
	aot := int(dsi[0] >> 3)
	if aot == 31 && len(dsi) >= 2 {
		aot = 32 + (int(dsi[0]&7)<<3 | int(dsi[1]>>5))
	}
	return fmt.Sprintf("mp4a.%02x.%d", oti, aot), nil
}

// descriptor splits one tag-length-value descriptor off p.
func descriptor(p []byte) (tag byte, body, rest []byte, err error) {
	if len(p) < 2 {
		return 0, nil, nil, errors.New("short descriptor")
	}
	tag = p[0]
	n, i := 0, 1
	for ; i < len(p) && i <= 4; i++ {
		n = n<<7 | int(p[i]&0x7f)
		if p[i]&0x80 == 0 {
			break
		}
	}
	i++
	if i > len(p) || n > len(p)-i {
		return 0, nil, nil, errors.New("descriptor overruns its box")
	}
	return tag, p[i : i+n], p[i+n:], nil
}
