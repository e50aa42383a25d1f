package media

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// MasterPlaylist writes the HLS multivariant playlist over renditions
// (paths relative to the video's folder): one EXT-X-STREAM-INF each, lowest
// bandwidth first, with BANDWIDTH (peak) and AVERAGE-BANDWIDTH measured on
// the segments, CODECS from the init segments, RESOLUTION and FRAME-RATE.
func MasterPlaylist(rs []Rendition) []byte {
	sorted := slices.Clone(rs)
	slices.SortStableFunc(sorted, func(a, b Rendition) int {
		return cmp.Or(cmp.Compare(a.Bandwidth, b.Bandwidth), cmp.Compare(a.Height, b.Height))
	})
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for _, r := range sorted {
		attrs := []string{fmt.Sprintf("BANDWIDTH=%d", max(r.Bandwidth, 1))}
		if r.AverageBandwidth > 0 {
			attrs = append(attrs, fmt.Sprintf("AVERAGE-BANDWIDTH=%d", r.AverageBandwidth))
		}
		if r.Codecs != "" {
			attrs = append(attrs, fmt.Sprintf("CODECS=%q", r.Codecs))
		}
		if r.Width > 0 && r.Height > 0 {
			attrs = append(attrs, fmt.Sprintf("RESOLUTION=%dx%d", r.Width, r.Height))
		}
		if r.FrameRate > 0 {
			attrs = append(attrs, fmt.Sprintf("FRAME-RATE=%.3f", r.FrameRate))
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:%s\n%s\n", strings.Join(attrs, ","), r.Playlist)
	}
	return b.Bytes()
}
