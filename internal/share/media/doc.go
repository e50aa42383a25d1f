// Package media turns an uploaded video into adaptive HLS for campus video
// sharing (校园快速分享), with ffprobe and ffmpeg:
//
//	info, err := tools.Probe(ctx, file)        // typed *Error for what cannot become a video
//	plan := media.PlanFor(info, media.PlanOptions{})
//	rs, err := tools.Publish(ctx, file, dir, info, plan, ready)
//	err = tools.Poster(ctx, file, dir+"/poster.jpg", info)
//	sheets, vtt, err := tools.Sprite(ctx, file, dir+"/sprite", info, 10*time.Second)
//
// # Playable within seconds, then the ladder
//
// Fast path (PackageCopy): H.264 that browsers play as it is (8-bit 4:2:0,
// Baseline/Main/High, level ≤ 5.2, upright, progressive, square pixels, in
// MP4/MOV/Matroska/MPEG-TS/FLV) is remuxed, not encoded, into fMP4 HLS
// segments; AAC-LC sound is copied, other sound encoded to AAC. This costs
// about what reading the file costs (bench/media measures it against bare
// ffmpeg). A rotated phone video cannot take it: browsers (MSE) ignore the
// display matrix, so it is encoded upright.
//
// The ladder (EncodeLadder) is ONE ffmpeg run with ONE decode: deinterlace
// and HDR tone mapping once, split, one scaler and libx264 encoder per rung
// (360p/540p/720p/1080p by the short side, never above the source; capped
// CRF). Every rung has a fixed GOP of one segment, no scene-cut keyframes
// and keyframes forced at each multiple of the segment length, so all
// renditions cut at the same instants and a player can switch anywhere.
//
// A source that is not H.264 (HEVC from phones, MPEG-2, WMV, VP9, ...) has
// nothing to copy. Publish then encodes the smallest rung alone first and
// publishes it, then the other rungs in one run. The price is one extra
// decode of the source; the gain is that the first rendition is ready in
// the time one small encode takes rather than the whole ladder's, and it is
// complete, so playback never catches up with an encoder that runs slower
// than real time (publishing the growing playlists of a single ladder run
// would be playable as early, but on two cores a 1080p ladder runs below
// real time and players start such EVENT playlists at the live edge).
//
// After each rendition Publish rewrites the master playlist (atomically):
// CODECS read from each init segment's avcC and esds (the real profile and
// level), RESOLUTION, FRAME-RATE, BANDWIDTH (peak segment bit rate) and
// AVERAGE-BANDWIDTH measured on the written segments.
//
// # A video's folder
//
//	master.m3u8
//	source/index.m3u8 init.mp4 seg_00001.m4s ...   the copied original (fast path)
//	360p/…  540p/…  720p/…                          the encoded ladder
//
// Each rendition folder appears only when complete (written in a hidden
// ".…tmp" folder beside it and renamed); a crash can leave such a hidden
// folder behind, never a half rendition.
//
// # Hostile and broken files
//
// Every input is opened through a whitelist of container demuxers and the
// file protocol only, named as a file: URL: a "video" that is really an HLS
// or concat playlist cannot make ffmpeg read other files or URLs, and no
// character in a name is taken as an option, protocol or pattern. Outputs
// are written with relative names inside a work folder. Camera metadata
// (GPS position, device names) is not carried into what is shared.
//
// Every process runs in its own process group under a time limit
// (Timeouts.Base + PerSecond × duration), is killed when its -progress
// reports stop moving (Timeouts.Stall) and when ctx ends; the whole group
// gets SIGKILL. Failures are *Error values whose Kind (ErrEmpty,
// ErrNotMedia, ErrCorrupt, ErrNoVideo, ErrUnsupported, ErrTooLong,
// ErrTooShort, ErrTooLarge, ErrTooSmall, ErrTimeout, ErrFailed, ErrNoTools)
// callers test with errors.Is and turn into a message; Reason gives a
// stable code to store.
package media
