//! EXIF tags of an original image as one JSON object (fetch's `--keep-exif`, the model being
//! img2dataset's `exif` column): keys `"Image Make"`, `"EXIF DateTimeOriginal"`, `"GPS GPSLatitude"`
//! (the IFD, then the tag's name, or `Tag 0xNNNN` for a tag without one), values as text.
//!
//! JPEG's APP1 segment (the walk the orientation read uses), PNG's eXIf and WebP's EXIF chunk are
//! read. Bounded: IFD0, the EXIF and GPS IFDs only (no thumbnail, no maker notes), at most
//! [`MAX_ENTRIES`] tags, values over [`MAX_VALUE_BYTES`] left out, the object stopped at
//! [`MAX_JSON_BYTES`]. A TIFF structure that points outside itself is an error (the caller counts
//! it and stores null), never a panic.

use std::collections::HashSet;
use std::io::Cursor;

use image::{ImageDecoder, ImageFormat, ImageReader};

/// Tags read per image, over all IFDs.
pub const MAX_ENTRIES: usize = 256;
/// A tag whose value, as text, is longer than this is left out (binary blobs, long comments).
pub const MAX_VALUE_BYTES: usize = 256;
/// The JSON object stops growing at this size.
pub const MAX_JSON_BYTES: usize = 16 << 10;

const EXIF_IFD: u16 = 0x8769;
const GPS_IFD: u16 = 0x8825;
const INTEROP_IFD: u16 = 0xa005;
const MAKER_NOTE: u16 = 0x927c;

/// The EXIF of `bytes` as a JSON object; `Ok(None)` when the image has none (or is not an image
/// format read here), `Err` naming the problem when its EXIF is unreadable.
pub fn exif_json(bytes: &[u8]) -> Result<Option<String>, String> {
    let tiff = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => crate::jpeg::exif_segment(bytes).map(<[u8]>::to_vec),
        Ok(format @ (ImageFormat::Png | ImageFormat::WebP)) => ImageReader::with_format(Cursor::new(bytes), format)
            .into_decoder()
            .ok()
            .and_then(|mut decoder| decoder.exif_metadata().ok().flatten()),
        _ => None,
    };
    match tiff {
        None => Ok(None),
        Some(tiff) => tiff_json(&tiff).map(Some),
    }
}

/// A TIFF structure (the EXIF payload) as the JSON object of its tags.
fn tiff_json(tiff: &[u8]) -> Result<String, String> {
    let little = match tiff.get(..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Err("no TIFF header".into()),
    };
    let reader = Tiff { bytes: tiff, little };
    let mut object = serde_json::Map::new();
    let mut size = 2usize;
    let mut seen = HashSet::new();
    let mut pending = vec![("Image", reader.u32_at(4)? as usize)];
    let mut entries = 0usize;
    while let Some((ifd, offset)) = pending.pop() {
        if !seen.insert(offset) {
            continue; // an IFD pointing back at one already read
        }
        let count = reader.u16_at(offset)? as usize;
        for i in 0..count {
            if entries >= MAX_ENTRIES {
                break;
            }
            entries += 1;
            let at = offset + 2 + 12 * i;
            let tag = reader.u16_at(at)?;
            match tag {
                EXIF_IFD => pending.push(("EXIF", reader.u32_at(at + 8)? as usize)),
                GPS_IFD => pending.push(("GPS", reader.u32_at(at + 8)? as usize)),
                INTEROP_IFD | MAKER_NOTE => {}
                _ => {
                    let Some(value) = reader.value(at)? else { continue };
                    if value.len() > MAX_VALUE_BYTES {
                        continue;
                    }
                    let key = match tag_name(ifd, tag) {
                        Some(name) => format!("{ifd} {name}"),
                        None => format!("{ifd} Tag 0x{tag:04X}"),
                    };
                    let added = key.len() + value.len() + 8;
                    if size + added > MAX_JSON_BYTES {
                        break;
                    }
                    size += added;
                    object.insert(key, serde_json::Value::String(value));
                }
            }
        }
    }
    Ok(serde_json::Value::Object(object).to_string())
}

struct Tiff<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Tiff<'_> {
    fn slice(&self, at: usize, len: usize) -> Result<&[u8], String> {
        at.checked_add(len)
            .and_then(|end| self.bytes.get(at..end))
            .ok_or_else(|| format!("offset {at} (+{len}) beyond the {}-byte EXIF block", self.bytes.len()))
    }

    fn u16_at(&self, at: usize) -> Result<u16, String> {
        let b = self.slice(at, 2)?;
        Ok(if self.little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    }

    fn u32_at(&self, at: usize) -> Result<u32, String> {
        let b: [u8; 4] = self.slice(at, 4)?.try_into().map_err(|_| "short read")?;
        Ok(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    /// The value of the 12-byte entry at `at` as text; None for a type this reader does not know
    /// or a value too long to keep.
    fn value(&self, at: usize) -> Result<Option<String>, String> {
        let kind = self.u16_at(at + 2)?;
        let count = self.u32_at(at + 4)? as usize;
        let size = match kind {
            1 | 2 | 6 | 7 => 1,
            3 | 8 => 2,
            4 | 9 | 11 => 4,
            5 | 10 | 12 => 8,
            _ => return Ok(None),
        };
        let len = count.checked_mul(size).ok_or("an entry count overflows")?;
        if len > 4 * MAX_VALUE_BYTES {
            return Ok(None); // its text would be over MAX_VALUE_BYTES: left out unread
        }
        let data = if len <= 4 { self.slice(at + 8, len)? } else { self.slice(self.u32_at(at + 8)? as usize, len)? };
        let items: Vec<String> = match kind {
            2 => {
                let text = String::from_utf8_lossy(data);
                return Ok(Some(text.trim_end_matches('\0').trim().to_owned()));
            }
            7 if data.iter().all(|b| b.is_ascii_graphic() || *b == b' ' || *b == 0) => {
                return Ok(Some(String::from_utf8_lossy(data).trim_end_matches('\0').trim().to_owned()));
            }
            1 | 7 => data.iter().map(u8::to_string).collect(),
            6 => data.iter().map(|&b| (b as i8).to_string()).collect(),
            3 => (0..count).map(|i| self.u16_of(data, i).map(|v| v.to_string())).collect::<Result<_, _>>()?,
            8 => (0..count).map(|i| self.u16_of(data, i).map(|v| (v as i16).to_string())).collect::<Result<_, _>>()?,
            4 => (0..count).map(|i| self.u32_of(data, i).map(|v| v.to_string())).collect::<Result<_, _>>()?,
            9 => (0..count).map(|i| self.u32_of(data, i).map(|v| (v as i32).to_string())).collect::<Result<_, _>>()?,
            11 => (0..count)
                .map(|i| self.u32_of(data, i).map(|v| f32::from_bits(v).to_string()))
                .collect::<Result<_, _>>()?,
            5 | 10 => (0..count)
                .map(|i| {
                    let (n, d) = (self.u32_of(data, 2 * i)?, self.u32_of(data, 2 * i + 1)?);
                    Ok(if kind == 5 { format!("{n}/{d}") } else { format!("{}/{}", n as i32, d as i32) })
                })
                .collect::<Result<_, String>>()?,
            _ => (0..count)
                .map(|i| {
                    let b: [u8; 8] =
                        data.get(8 * i..8 * i + 8).and_then(|s| s.try_into().ok()).ok_or("short double")?;
                    let bits = if self.little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) };
                    Ok(f64::from_bits(bits).to_string())
                })
                .collect::<Result<_, String>>()?,
        };
        Ok(Some(if items.len() == 1 {
            items.into_iter().next().unwrap_or_default()
        } else {
            format!("[{}]", items.join(", "))
        }))
    }

    fn u16_of(&self, data: &[u8], i: usize) -> Result<u16, String> {
        let b = data.get(2 * i..2 * i + 2).ok_or("short value")?;
        Ok(if self.little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    }

    fn u32_of(&self, data: &[u8], i: usize) -> Result<u32, String> {
        let b: [u8; 4] = data.get(4 * i..4 * i + 4).and_then(|s| s.try_into().ok()).ok_or("short value")?;
        Ok(if self.little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }
}

/// The names of the common tags (TIFF 6.0, EXIF 2.3 and GPS), as EXIF tools print them.
fn tag_name(ifd: &str, tag: u16) -> Option<&'static str> {
    if ifd == "GPS" {
        return Some(match tag {
            0x0000 => "GPSVersionID",
            0x0001 => "GPSLatitudeRef",
            0x0002 => "GPSLatitude",
            0x0003 => "GPSLongitudeRef",
            0x0004 => "GPSLongitude",
            0x0005 => "GPSAltitudeRef",
            0x0006 => "GPSAltitude",
            0x0007 => "GPSTimeStamp",
            0x001d => "GPSDate",
            _ => return None,
        });
    }
    Some(match tag {
        0x010e => "ImageDescription",
        0x010f => "Make",
        0x0110 => "Model",
        0x0112 => "Orientation",
        0x011a => "XResolution",
        0x011b => "YResolution",
        0x0128 => "ResolutionUnit",
        0x0131 => "Software",
        0x0132 => "DateTime",
        0x013b => "Artist",
        0x0213 => "YCbCrPositioning",
        0x8298 => "Copyright",
        0x829a => "ExposureTime",
        0x829d => "FNumber",
        0x8822 => "ExposureProgram",
        0x8827 => "ISOSpeedRatings",
        0x9000 => "ExifVersion",
        0x9003 => "DateTimeOriginal",
        0x9004 => "DateTimeDigitized",
        0x9201 => "ShutterSpeedValue",
        0x9202 => "ApertureValue",
        0x9204 => "ExposureBiasValue",
        0x9207 => "MeteringMode",
        0x9209 => "Flash",
        0x920a => "FocalLength",
        0xa001 => "ColorSpace",
        0xa002 => "ExifImageWidth",
        0xa003 => "ExifImageLength",
        0xa402 => "ExposureMode",
        0xa403 => "WhiteBalance",
        0xa405 => "FocalLengthIn35mmFilm",
        0xa406 => "SceneCaptureType",
        0xa430 => "CameraOwnerName",
        0xa431 => "BodySerialNumber",
        0xa434 => "LensModel",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF block: IFD0 with Make (ASCII, out of line), Orientation (SHORT) and a
    /// pointer to an EXIF IFD holding DateTimeOriginal.
    fn tiff() -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0".to_vec();
        // IFD0 at 8: 3 entries (2 + 36 bytes) + next-IFD 0 (4) → ends at 50; Make text at 50.
        t.extend_from_slice(&3u16.to_le_bytes());
        t.extend_from_slice(&[0x0f, 0x01, 2, 0, 7, 0, 0, 0, 50, 0, 0, 0]);
        t.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
        t.extend_from_slice(&[0x69, 0x87, 4, 0, 1, 0, 0, 0, 58, 0, 0, 0]);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"WitCam\0\0"); // 50..58
                                            // EXIF IFD at 58: 1 entry, DateTimeOriginal at 76.
        t.extend_from_slice(&1u16.to_le_bytes());
        t.extend_from_slice(&[0x03, 0x90, 2, 0, 20, 0, 0, 0, 76, 0, 0, 0]);
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"2024:05:06 07:08:09\0");
        t
    }

    #[test]
    fn tags_of_ifd0_and_the_exif_ifd() {
        let json: serde_json::Value = serde_json::from_str(&tiff_json(&tiff()).unwrap()).unwrap();
        assert_eq!(json["Image Make"], "WitCam");
        assert_eq!(json["Image Orientation"], "6");
        assert_eq!(json["EXIF DateTimeOriginal"], "2024:05:06 07:08:09");
        assert_eq!(json.as_object().unwrap().len(), 3);
    }

    #[test]
    fn broken_blocks_are_errors_not_panics() {
        let whole = tiff();
        for cut in [3, 9, 20, 52, 70] {
            assert!(tiff_json(&whole[..cut]).is_err(), "cut at {cut}");
        }
        let mut self_pointing = whole;
        self_pointing[8 + 2 + 24 + 8] = 8; // the EXIF IFD pointer points at IFD0: read once
        let json = tiff_json(&self_pointing).unwrap();
        assert!(json.contains("WitCam"), "{json}");
        assert_eq!(exif_json(b"not an image").unwrap(), None);
    }
}
