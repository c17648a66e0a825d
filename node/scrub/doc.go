// Package scrub removes the location a phone writes into photos and
// videos before they are shared, so that DESIGN.md P3 ("location never
// leaves the device") and P4 ("a friend learns only 'we are in range
// now'") hold for content too: a friend who receives a photo must not
// read where it was taken.
//
// Scan reads a file through an io.ReaderAt and returns a Plan: the byte
// ranges to blank. Plan.Reader applies it to the file as it streams
// (nothing is buffered beyond each Read), Plan.Apply to bytes in memory.
// The scrubbed file has the same size as the original and every byte
// outside the blanked ranges unchanged, so the node's hash, size and
// sealing passes work on it as on the original. A video is never held in
// memory: Scan reads box headers and small metadata boxes only.
//
// # What is removed
//
//   - JPEG: in every EXIF APP1 (there may be several), the GPS IFD that
//     IFD0's GPSInfo (0x8825) points to: every value its entries point to
//     is zeroed, then the entries and its next-IFD link, and its count
//     becomes 0 (a valid empty IFD). IFD0, the Exif IFD (Orientation,
//     DateTimeOriginal, which the "taken together" feature reads) and the
//     rest keep their bytes. The IFD1 JPEG thumbnail is scanned as a JPEG
//     in turn. XMP and extended-XMP APP1 segments (exif:GPS* properties)
//     and Photoshop APP13 segments (IPTC City, Sub-location, Country)
//     become COM segments of the same length filled with spaces. Every
//     marker segment is visited, also between the scans of a progressive
//     JPEG and in JPEGs appended after EOI (MPF images, gain maps).
//   - PNG: the eXIf chunk's GPS IFD, as for JPEG; an XMP iTXt/tEXt chunk
//     (keyword XML:com.adobe.xmp) keeps its keyword and becomes spaces;
//     each changed chunk's CRC is recomputed.
//   - MP4, MOV, 3GP (ISO BMFF): in moov, its traks and their udta: the
//     payloads of ©xyz (ISO 6709 string) and loci are zeroed, XMP_ and XMP
//     uuid boxes become spaces; in a meta box's item list, the values of
//     items whose key names a location or GPS (Apple's
//     com.apple.quicktime.location.ISO6709, .name, .body, .note, ...) and
//     of ©xyz items are zeroed. Every sample of a timed-metadata track
//     that carries a position per frame or second (GoPro GPMF gpmd,
//     Google camm; sensor data beside it goes too) is zeroed, located by
//     the track's stco/co64, stsc and stsz tables (a track lacking one of
//     them, with stz2, or in a fragmented file, is ErrTooComplex). Boxes
//     keep their sizes and types; other media data is never read.
//   - HEIF, HEIC, AVIF: the Exif item (iinf names it, iloc places it in the
//     file or in idat) gets its GPS IFD blanked as for JPEG; an XMP item
//     (MIME application/rdf+xml) becomes spaces.
//   - WebP: the EXIF chunk's GPS IFD, as for JPEG; the XMP chunk becomes
//     spaces (RIFF has no checksums to fix).
//
// Anything else (GIF, TIFF/DNG raw files, AVI, Matroska/WebM, unknown
// bytes) passes unchanged: Plan.Format is FormatUnknown.
//
// # What it does not do
//
// It does not touch pixels (a landmark in the picture is the user's to
// see), vendor maker notes (none of the phones we know of puts a position
// there), PNG's ImageMagick "Raw profile type exif" text, a Samsung JPEG
// trailer after the last EOI, a HEIF Exif item built from other items
// (construction method 2), GPS bytes no IFD points to (left over by an
// editor that dropped the pointer only), names of places in free text
// (captions, a file name), or timed-metadata tracks of formats not in
// the list above (DJI's, Apple's mebx). Capture time and orientation are
// kept on purpose.
//
// Blanking XMP whole has a cost: an HDR photo's gain-map parameters
// (Ultra HDR hdrgm:, Apple's HDRGainMap) and Google's depth data live in
// XMP too, so such a photo arrives as its plain SDR image. P3 comes
// first; a finer pass that blanks only location properties inside XMP
// would keep them.
//
// # Malformed files
//
// A malformed file is not an error. What can be parsed is scrubbed; an
// EXIF APP1 that does not hold TIFF becomes a COM segment whole, an
// eXIf chunk or HEIF Exif item that cannot be parsed (or is over
// MaxMetaRead) is zeroed whole, a truncated GPS IFD is zeroed to the end
// of its block. Where blanked regions of a crafted file overlap, zeros
// are written last, so location bytes end zero. Parsing stops at the
// first structure that does not fit (a segment or box running past its
// parent); what follows passes unchanged. A file that would need more
// than MaxPatches regions, MaxBoxes boxes or MaxMetaTotal bytes of
// metadata read is ErrTooComplex: the caller must not share it. Scan's only other errors are the reader's.
//
// The parsers are this package's own, small and fuzzed. goexif (which
// cmd/imigee uses to read a capture time) decodes an IFD all or nothing:
// one odd entry and the GPS IFD would not be found, so not blanked; it
// reads values into memory, counts entries in an int16, and is known to
// panic on malformed input. A scrubber has to blank whatever it finds.
// It serves as the independent reader in the tests instead.
//
// # Concurrency
//
// Scan, Plan and Bytes are pure (no I/O beyond the reader given) and
// safe for concurrent use on different inputs; a Plan is read-only after
// Scan and may be applied by several Readers at once.
//
// # Which tests prove what
//
// TestJPEG, TestPNG, TestMP4, TestHEIC and TestWebP build real-looking files
// (scrubtest) carrying the Eiffel Tower's position in every place above,
// check that it was there (positive control: goexif reads the latitude),
// and that after Bytes no byte of it is left (scrubtest.Leaks), the size
// is the same, the JPEG and PNG still decode with image/jpeg and
// image/png (CRCs checked), DateTimeOriginal and Orientation still read
// with goexif, the box tree of the MP4 is unchanged, the media bytes are
// untouched, the streaming Reader agrees with Apply, and a second pass
// changes nothing. TestTruncated scans every prefix of every test file.
// TestTimedTrackUnlocatable: a GPS track whose sample tables cannot be
// read fails the scan (ErrTooComplex) instead of passing its positions.
// FuzzJPEG, FuzzPNG, FuzzBMFF, FuzzWebP and FuzzTIFF (seeded from the same files)
// check that no input panics, changes the size, patches outside the file,
// or (TIFF) leaves a GPS entry. In package node, TestSharedPhotoHasNoGPS
// and TestSharedVideoHasNoLocation share such files to a friend over the
// real transport (and through the relay mailbox) and search what arrives.
package scrub
