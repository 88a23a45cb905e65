//! A small generated photo for the demo's incident reports.

use rand::Rng;
use rand::rngs::StdRng;

const W: u32 = 80;
const H: u32 = 60;

/// An 80×60 PNG of a house under a sky, in colours of the RNG's choosing.
pub(super) fn tiny_png(rng: &mut StdRng) -> Vec<u8> {
    let sky = [
        rng.random_range(120..190u8),
        rng.random_range(170..220),
        235,
    ];
    let ground = [rng.random_range(70..120u8), rng.random_range(110..150), 60];
    let wall = [
        rng.random_range(170..240u8),
        rng.random_range(150..220),
        rng.random_range(120..200),
    ];
    let (x0, x1) = (rng.random_range(10..30), rng.random_range(45..70));
    let top = rng.random_range(15..28);
    let mut pixels = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            let px = if y >= 44 {
                ground
            } else if (x0..x1).contains(&x) && y >= top {
                let window = (x - x0) % 8 < 4 && (y - top) % 8 < 4 && y < 40;
                if window { [60, 70, 90] } else { wall }
            } else {
                let shade = (y * 2) as u8;
                [
                    sky[0].saturating_sub(shade),
                    sky[1].saturating_sub(shade),
                    sky[2],
                ]
            };
            pixels.extend_from_slice(&px);
        }
    }
    encode(&pixels)
}

/// RGB pixels (8 bits per channel, row by row) as a PNG file.
fn encode(pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let written = encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(pixels));
    if let Err(e) = written {
        // Only a wrong pixel count could fail here; a report without its photo is still a report.
        tracing::warn!(error = %e, "demo: the generated photo could not be encoded");
        return Vec::new();
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_generated_photo_decodes_as_an_80_by_60_png() {
        let mut rng = StdRng::seed_from_u64(1);
        let bytes = tiny_png(&mut rng);
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!((frame.width, frame.height), (W, H));
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        // The bottom row is ground, the top row sky: the picture holds what was drawn.
        let row = |y: usize| &buf[y * frame.line_size..(y + 1) * frame.line_size];
        assert_eq!(row(59)[..3], row(59)[3..6]);
        assert_eq!(row(0)[2], 235);
    }
}
