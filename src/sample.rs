//! The embedded sample: a small, deterministic time-lapse of nuclei, generated (never
//! downloaded) so notebooks, the CLI and tests run offline. It imitates the image the tutorial
//! analyses (IDR 4007801, cells with fluorescent H2B and a nuclear-envelope marker).
//!
//! ```no_run
//! # fn main() -> omeflow::Result<()> {
//! let path = omeflow::sample::write_sample("sample.ome.zarr", &omeflow::sample::SampleSpec::default())?;
//! let image = omeflow::ngff::open_image(&path)?;
//! assert_eq!(image.level(0)?.shape(), [8, 2, 10, 256, 256]);
//! # Ok(()) }
//! ```
//!
//! # The model
//!
//! - **Nuclei** are ellipsoids in one layer of cells: in-plane radius about 4% of the smaller
//!   side of the plane (9 to 12 pixels at 256 x 256), aspect up to 1.35, half-thickness 35-50% of
//!   the z extent. They are placed at random and a placement that would overlap (with a gap of
//!   a few pixels) is rejected, so a plane holds tens of separate objects (about 45 at the
//!   default size). Brightness varies between nuclei by a factor of about 4.
//! - **Chromatin**: inside a nucleus, channel 0 is modulated by three octaves of smooth value
//!   noise in the nucleus's own (rotating, moving) frame, which drifts slowly over time; edges
//!   are soft over a pixel or two and blur further (and dim) out of focus in z.
//! - **Motion**: each nucleus does a smooth random walk (damped velocity, about a pixel per
//!   timepoint); overlapping neighbours are pushed apart after each step.
//! - **Divisions**: about one nucleus in fifteen divides (when there are at least 4
//!   timepoints): at `td - 1` it condenses (smaller, brighter, grainier), at `td` it is a bright
//!   metaphase plate, at `td + 1` two bright anaphase daughters move apart, at `td + 2` they
//!   round up, then they grow and move on as two nuclei.
//! - **Channel 1** (LaminB1-like): a bright rim on the nuclear envelope (wider where a plane cuts
//!   the envelope tangentially), a dim nucleoplasm, and during mitosis, when the lamina has
//!   broken down, a dim diffuse glow over the rounded cell.
//! - **Background and camera**: a smooth, uneven illumination (vignetting and low-frequency
//!   variation) multiplies a dim background and the nuclei; the camera adds an offset of 100,
//!   shot noise (variance proportional to the signal, gain 1.6) and Gaussian read noise
//!   (sigma 4), the normal deviates approximated by a sum of four uniforms.
//!
//! Every random number comes from seeded splitmix64 (`rng`) streams (one per plane for the
//! noise), and the pixel arithmetic uses only `+ - * /` and `sqrt`, so the same seed gives the same
//! bytes on every machine and with any number of threads. The channel windows span the
//! background to the bright nuclei.

use crate::rng::Rng;
use ndarray::Array2;

use crate::ngff::writer::{ImageSpec, ImageWriter, NgffVersion};
use crate::ngff::{Channel, DType, Window};
use crate::Result;

/// Shape and format of the sample.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// (t, c, z, y, x) of level 0; c is at most 2 (more channels repeat the second).
    pub shape: [usize; 5],
    /// Number of nuclei wanted at the first timepoint (at most [`MAX_NUCLEI`]); fewer are
    /// placed when the plane has no room for them without overlaps.
    pub nuclei: usize,
    /// Resolution levels.
    pub levels: usize,
    /// NGFF version written.
    pub version: NgffVersion,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// The image's name, written to its metadata (what a catalogue lists it as).
    pub name: String,
}

/// The most nuclei a sample places.
pub const MAX_NUCLEI: usize = 500;

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            shape: [8, 2, 10, 256, 256],
            nuclei: 45,
            levels: 3,
            version: NgffVersion::V0_4,
            seed: 4007801,
            name: "omeflow sample: nuclei time-lapse".into(),
        }
    }
}

/// Camera offset (counts with no light).
const OFFSET: f64 = 100.0;
/// Counts per photo-electron: the shot noise variance is `GAIN * signal`.
const GAIN: f64 = 1.6;
/// Read noise, counts.
const READ_NOISE: f64 = 4.0;
/// Background (autofluorescence, out-of-focus light) per channel, counts before illumination.
const BACKGROUND: [f64; 2] = [60.0, 90.0];

/// Write the sample image to `location` (replacing a Zarr image already there) and return the location.
pub fn write_sample(location: &str, spec: &SampleSpec) -> Result<String> {
    let [nt, nc, nz, ny, nx] = spec.shape;
    let channels = vec![
        Channel {
            name: Some("H2B".into()),
            color: Some("0000FF".into()),
            window: Some(Window {
                start: 110.0,
                end: 2800.0,
                min: Some(0.0),
                max: Some(65535.0),
            }),
            active: Some(true),
        },
        Channel {
            name: Some("LaminB1".into()),
            color: Some("00FF00".into()),
            window: Some(Window {
                start: 140.0,
                end: 1600.0,
                min: Some(0.0),
                max: Some(65535.0),
            }),
            active: Some(true),
        },
    ];
    let image_spec = ImageSpec::new(spec.shape, DType::U16)
        .with_levels(spec.levels)
        .with_chunks(256, 256)
        .with_scale(
            [1.0, 1.0, 2.0, 0.4, 0.4],
            Some("micrometer"),
            Some("minute"),
        )
        .with_name(spec.name.as_str())
        .with_channels(channels.into_iter().take(nc).collect())
        .with_version(spec.version);
    // The writer checks the shape before any work.
    let writer = ImageWriter::replace(location, image_spec)?;
    let mut sim = Simulation::new(spec);
    let texture = Texture::new(spec.seed);
    let scene = Scene::new(spec.seed, &texture, [ny, nx]);
    let mut plane = vec![0.0f64; ny * nx];
    for t in 0..nt {
        let blobs = sim.blobs(t);
        for c in 0..nc {
            for z in 0..nz {
                scene.render(&blobs, c.min(1), z, &mut plane);
                let noisy = scene.camera(spec.seed, [t, c, z], &plane);
                writer.write_plane(t, c, z, &noisy)?;
            }
        }
        sim.step(t);
    }
    Ok(location.to_string())
}

/// The smallest a nucleus's radius gets, pixels.
const MIN_RADIUS: f64 = 1.0;

/// One nucleus (a cell) over time.
#[derive(Clone, Debug)]
struct Cell {
    y: f64,
    x: f64,
    vy: f64,
    vx: f64,
    /// Unit vector of the long axis (and of a metaphase plate).
    uy: f64,
    ux: f64,
    /// Mean in-plane radius now and when grown, pixels.
    r: f64,
    r_grown: f64,
    aspect: f64,
    /// Centre and half-thickness in z, planes.
    z: f64,
    rz: f64,
    brightness: [f64; 2],
    /// Offset of the chromatin texture, lattice cells.
    tex: [f64; 2],
    tex_drift: [f64; 2],
    /// Timepoint of metaphase, for a nucleus that divides.
    divide_at: Option<usize>,
    /// Timepoint of anaphase, for a daughter.
    born: Option<usize>,
    /// The daughter's sister (an index in `Simulation::cells`), while they are still close.
    sister: Option<usize>,
    /// A push applied at the next step (daughters moving apart).
    kick: [f64; 2],
}

impl Cell {
    /// The radius a neighbour must keep clear of, pixels.
    fn bound(&self) -> f64 {
        self.r * self.aspect.sqrt()
    }
}

/// One nucleus as drawn at one timepoint.
#[derive(Clone, Debug)]
struct Blob {
    y: f64,
    x: f64,
    uy: f64,
    ux: f64,
    /// Semi-axes along and across `u`, pixels.
    a: f64,
    b: f64,
    /// The cell's mean radius (the scale of its texture and of a mitotic cell's glow).
    r: f64,
    z: f64,
    rz: f64,
    brightness: [f64; 2],
    tex: [f64; 2],
    /// 0 (interphase chromatin) to 1 (mitotic chromosomes).
    condensed: f64,
    /// 1 (intact nuclear envelope) to 0 (broken down in mitosis).
    lamina: f64,
}

struct Simulation {
    cells: Vec<Cell>,
    rng: Rng,
    size: [f64; 2],
    gap: f64,
}

impl Simulation {
    fn new(spec: &SampleSpec) -> Self {
        let [nt, _, nz, ny, nx] = spec.shape;
        let mut rng = Rng(spec.seed);
        let side = ny.min(nx) as f64;
        let gap = 2.0 + 0.01 * side;
        let wanted = spec.nuclei.min(MAX_NUCLEI);
        let mut cells: Vec<Cell> = Vec::with_capacity(wanted);
        // Random sequential placement: a nucleus overlapping one already placed is redrawn;
        // after many failures in a row (or many in all) the plane is full.
        // Attempts are bounded in all, too, so a full plane costs little.
        let (mut failures, mut attempts) = (0, 0);
        while cells.len() < wanted && failures < 200 && attempts < 100 * wanted {
            attempts += 1;
            let r = (rng.range(0.034, 0.047) * side).max(MIN_RADIUS);
            let aspect = rng.range(1.0, 1.35);
            let bound = r * aspect.sqrt();
            let y = rng.range(0.0, ny as f64);
            let x = rng.range(0.0, nx as f64);
            let clear = cells.iter().all(|o| {
                let (dy, dx) = (o.y - y, o.x - x);
                let need = o.bound() + bound + gap;
                dy * dy + dx * dx >= need * need
            });
            if !clear {
                failures += 1;
                continue;
            }
            failures = 0;
            let (uy, ux) = unit_vector(&mut rng);
            let speed = rng.range(0.5, 1.5);
            let (vy, vx) = unit_vector(&mut rng);
            // Brightness varies about four-fold between nuclei, most near the middle.
            let level = (rng.unit() + rng.unit()) / 2.0;
            cells.push(Cell {
                y,
                x,
                vy: vy * speed,
                vx: vx * speed,
                uy,
                ux,
                r,
                r_grown: r,
                aspect,
                z: rng.range(0.45, 0.55) * nz as f64,
                rz: rng.range(0.35, 0.5) * nz as f64,
                brightness: [
                    500.0 + 1700.0 * level * level + rng.range(0.0, 300.0),
                    rng.range(700.0, 1300.0),
                ],
                tex: [rng.range(0.0, 64.0), rng.range(0.0, 64.0)],
                tex_drift: [rng.range(-0.12, 0.12), rng.range(-0.12, 0.12)],
                divide_at: None,
                born: None,
                sister: None,
                kick: [0.0; 2],
            });
        }
        // A few nuclei divide: metaphase at td, with prophase before and daughters for two
        // timepoints after, all inside the time-lapse.
        if nt >= 4 && !cells.is_empty() {
            let divisions = (cells.len() / 15).max(1);
            let mut tries = 0;
            let mut chosen = 0;
            while chosen < divisions && tries < 50 * divisions {
                tries += 1;
                let i = rng.below(cells.len());
                let c = &cells[i];
                let inside = c.y > 0.15 * ny as f64
                    && c.y < 0.85 * ny as f64
                    && c.x > 0.15 * nx as f64
                    && c.x < 0.85 * nx as f64;
                if c.divide_at.is_some() || !inside {
                    continue;
                }
                cells[i].divide_at = Some(1 + rng.below(nt - 3));
                chosen += 1;
            }
        }
        Self {
            cells,
            rng,
            size: [ny as f64, nx as f64],
            gap,
        }
    }

    /// The nuclei as drawn at timepoint `t`.
    fn blobs(&self, t: usize) -> Vec<Blob> {
        self.cells
            .iter()
            .map(|c| {
                let stage = match (c.divide_at, c.born) {
                    (Some(td), _) if t + 1 == td => Stage::Prophase,
                    (Some(td), _) if t == td => Stage::Metaphase,
                    (_, Some(tb)) if t == tb => Stage::Anaphase,
                    (_, Some(tb)) if t == tb + 1 => Stage::Telophase,
                    _ => Stage::Interphase,
                };
                let (sa, sb) = (c.aspect.sqrt(), 1.0 / c.aspect.sqrt());
                let (a, b, condensed, lamina, gain) = match stage {
                    Stage::Interphase => (c.r * sa, c.r * sb, 0.0, 1.0, 1.0),
                    Stage::Prophase => (0.9 * c.r * sa, 0.9 * c.r * sb, 0.5, 0.6, 1.3),
                    Stage::Metaphase => (0.9 * c.r, 0.35 * c.r, 1.0, 0.0, 1.6),
                    Stage::Anaphase => (0.95 * c.r, 0.45 * c.r, 0.9, 0.1, 1.5),
                    Stage::Telophase => (0.95 * c.r, 0.75 * c.r, 0.5, 0.5, 1.25),
                };
                Blob {
                    y: c.y,
                    x: c.x,
                    uy: c.uy,
                    ux: c.ux,
                    a: a.max(MIN_RADIUS),
                    b: b.max(MIN_RADIUS),
                    r: c.r,
                    z: c.z,
                    rz: c.rz,
                    brightness: [c.brightness[0] * gain, c.brightness[1]],
                    tex: c.tex,
                    condensed,
                    lamina,
                }
            })
            .collect()
    }

    /// Move from timepoint `t` to `t + 1`.
    fn step(&mut self, t: usize) {
        // Divisions: a nucleus in metaphase at t is two anaphase daughters at t + 1, either
        // side of the plate, moving apart across it.
        let n = self.cells.len();
        for i in 0..n {
            if self.cells[i].divide_at != Some(t) {
                continue;
            }
            let m = self.cells[i].clone();
            let (py, px) = (-m.ux, m.uy);
            let sep = 0.5 * m.r;
            let daughter = |sign: f64, tex: [f64; 2]| Cell {
                y: m.y + sign * py * sep,
                x: m.x + sign * px * sep,
                r: (0.62 * m.r).max(MIN_RADIUS),
                r_grown: (0.82 * m.r).max(MIN_RADIUS),
                aspect: 1.0 + (m.aspect - 1.0) * 0.5,
                tex,
                divide_at: None,
                born: Some(t + 1),
                kick: [sign * py * 0.5 * m.r, sign * px * 0.5 * m.r],
                ..m.clone()
            };
            let j = self.cells.len();
            let mut a = daughter(1.0, m.tex);
            let mut b = daughter(-1.0, [m.tex[0] + 17.0, m.tex[1] + 29.0]);
            a.sister = Some(j);
            b.sister = Some(i);
            self.cells[i] = a;
            self.cells.push(b);
        }
        // Motion: a damped random walk, plus any kick.
        let rng = &mut self.rng;
        for c in self.cells.iter_mut() {
            let (ry, rx) = unit_vector(rng);
            let jitter = rng.range(0.0, 0.5);
            c.vy = 0.8 * c.vy + jitter * ry;
            c.vx = 0.8 * c.vx + jitter * rx;
            c.y += c.vy + c.kick[0];
            c.x += c.vx + c.kick[1];
            c.kick = [0.0; 2];
            c.tex[0] += c.tex_drift[0];
            c.tex[1] += c.tex_drift[1];
            c.r = (c.r * 1.12).min(c.r_grown);
            // A slight turn (an exact rational rotation: no trigonometry).
            let k = rng.range(-0.05, 0.05);
            let (cos, sin) = ((1.0 - k * k) / (1.0 + k * k), 2.0 * k / (1.0 + k * k));
            let (uy, ux) = (cos * c.uy - sin * c.ux, sin * c.uy + cos * c.ux);
            c.uy = uy;
            c.ux = ux;
        }
        // Young sisters stay close; other neighbours are pushed apart.
        let next = t + 1;
        for _ in 0..3 {
            for i in 0..self.cells.len() {
                for j in i + 1..self.cells.len() {
                    let (ci, cj) = (&self.cells[i], &self.cells[j]);
                    let young = |c: &Cell| c.born.is_some_and(|b| next <= b + 1);
                    if ci.sister == Some(j) && (young(ci) || young(cj)) {
                        continue;
                    }
                    let (dy, dx) = (cj.y - ci.y, cj.x - ci.x);
                    let need = ci.bound() + cj.bound() + self.gap;
                    let d2 = dy * dy + dx * dx;
                    if d2 >= need * need {
                        continue;
                    }
                    let d = d2.sqrt();
                    let (uy, ux) = if d > 1e-9 {
                        (dy / d, dx / d)
                    } else {
                        (0.0, 1.0)
                    };
                    let push = 0.5 * (need - d);
                    let (ci, cj) = pair_mut(&mut self.cells, i, j);
                    ci.y -= uy * push;
                    ci.x -= ux * push;
                    cj.y += uy * push;
                    cj.x += ux * push;
                }
            }
        }
        // Nuclei may leave the field in part, not wholly.
        let [ny, nx] = self.size;
        for c in self.cells.iter_mut() {
            c.y = c.y.clamp(0.0, ny);
            c.x = c.x.clamp(0.0, nx);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Interphase,
    Prophase,
    Metaphase,
    Anaphase,
    Telophase,
}

fn pair_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    // i < j
    let (lo, hi) = v.split_at_mut(j);
    (&mut lo[i], &mut hi[0])
}

/// A uniformly random direction, by rejection (no trigonometry, so the same on every machine).
fn unit_vector(rng: &mut Rng) -> (f64, f64) {
    loop {
        let y = rng.range(-1.0, 1.0);
        let x = rng.range(-1.0, 1.0);
        let r2 = y * y + x * x;
        if r2 > 0.01 && r2 <= 1.0 {
            let r = r2.sqrt();
            return (y / r, x / r);
        }
    }
}

/// Smooth value noise on a periodic 64 x 64 lattice.
struct Texture {
    lattice: Vec<f64>,
}

const LATTICE: usize = 64;

impl Texture {
    fn new(seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5eed_7e37_0e5c_a1e5);
        Self {
            lattice: (0..LATTICE * LATTICE).map(|_| rng.unit()).collect(),
        }
    }

    /// The noise at (y, x), lattice units: in [0, 1], smooth (cubic interpolation).
    fn at(&self, y: f64, x: f64) -> f64 {
        let (fy, fx) = (y.floor(), x.floor());
        let (ty, tx) = (smooth(y - fy), smooth(x - fx));
        let m = LATTICE as i64 - 1;
        let (iy, ix) = ((fy as i64) & m, (fx as i64) & m);
        let (jy, jx) = ((iy + 1) & m, (ix + 1) & m);
        let l = |y: i64, x: i64| self.lattice[y as usize * LATTICE + x as usize];
        let top = l(iy, ix) + (l(iy, jx) - l(iy, ix)) * tx;
        let bottom = l(jy, ix) + (l(jy, jx) - l(jy, ix)) * tx;
        top + (bottom - top) * ty
    }
}

/// The cubic smoothstep on [0, 1].
fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

/// 1 for `e <= -1`, 0 for `e >= 1`, smooth between: a soft edge.
fn edge(e: f64) -> f64 {
    if e <= -1.0 {
        1.0
    } else if e >= 1.0 {
        0.0
    } else {
        1.0 - smooth(0.5 * (e + 1.0))
    }
}

/// A smooth bump: 1 at 0, 0 beyond |e| >= 1.
fn bump(e: f64) -> f64 {
    let q = 1.0 - e * e;
    if q <= 0.0 {
        0.0
    } else {
        q * q
    }
}

/// What stays the same for every plane: the illumination and background, and the texture.
struct Scene<'a> {
    texture: &'a Texture,
    ny: usize,
    nx: usize,
    /// Illumination (about 0.75 to 1.1), y-major.
    illumination: Vec<f64>,
    /// Background per channel before illumination, y-major.
    background: [Vec<f64>; 2],
}

impl<'a> Scene<'a> {
    fn new(seed: u64, texture: &'a Texture, [ny, nx]: [usize; 2]) -> Self {
        let mut rng = Rng(seed ^ 0x0b1a_5ed0_111c_0000);
        let (oy, ox) = (rng.range(0.0, 64.0), rng.range(0.0, 64.0));
        // The brightest point of the illumination, off centre.
        let (cy, cx) = (rng.range(0.35, 0.65), rng.range(0.35, 0.65));
        let span = (ny.max(nx) as f64).max(1.0);
        let mut illumination = Vec::with_capacity(ny * nx);
        let mut bg0 = Vec::with_capacity(ny * nx);
        let mut bg1 = Vec::with_capacity(ny * nx);
        for y in 0..ny {
            for x in 0..nx {
                let (v, u) = (y as f64 / span, x as f64 / span);
                let (dy, dx) = (v - cy, u - cx);
                let slow = texture.at(v * 3.0 + oy, u * 3.0 + ox);
                illumination.push(1.1 - 0.5 * (dy * dy + dx * dx) - 0.15 * slow);
                let blotch = texture.at(v * 6.0 + oy + 20.0, u * 6.0 + ox + 20.0);
                bg0.push(BACKGROUND[0] * (0.7 + 0.6 * blotch));
                bg1.push(BACKGROUND[1] * (0.8 + 0.4 * slow));
            }
        }
        Self {
            texture,
            ny,
            nx,
            illumination,
            background: [bg0, bg1],
        }
    }

    /// The noise-free signal of channel `c` (0 or 1) in plane `z`, in counts above the offset.
    fn render(&self, blobs: &[Blob], c: usize, z: usize, plane: &mut [f64]) {
        let (ny, nx) = (self.ny, self.nx);
        plane.copy_from_slice(&self.background[c]);
        let zc = z as f64 + 0.5;
        for n in blobs {
            let dz = (zc - n.z) / n.rz.max(0.5);
            if dz.abs() >= 1.25 {
                continue;
            }
            // The section through the ellipsoid, dimmer and blurred out of focus.
            let s = (1.0 - dz * dz).max(0.0).sqrt().max(0.3);
            let focus = (1.0 - 0.55 * dz * dz).max(0.0);
            let blur = 0.9 + 2.5 * (dz.abs() - 0.6).max(0.0);
            let (a, b) = (n.a * s, n.b * s);
            let mean_r = (a * b).sqrt();
            // The rim of the envelope: thin, wider where the plane cuts it tangentially.
            let rim = (1.2 + 1.5 * (1.0 / s - 1.0)).min(mean_r.max(1.0));
            let diffuse = 1.0 - n.lamina;
            // A mitotic cell rounds up: its glow in channel 1 is a disk.
            let glow = 1.3 * n.r * s;
            let reach = if c == 1 && diffuse > 0.0 {
                glow.max(a.max(b)) + blur + rim + 2.5
            } else if c == 1 {
                a.max(b) + blur + rim + 1.0
            } else {
                a.max(b) + blur + 1.0
            };
            let y0 = (n.y - reach).floor().max(0.0) as usize;
            let y1 = ((n.y + reach).ceil().max(0.0) as usize).min(ny);
            let x0 = (n.x - reach).floor().max(0.0) as usize;
            let x1 = ((n.x + reach).ceil().max(0.0) as usize).min(nx);
            // Chromatin: finer and higher contrast as it condenses; it changes slowly with z.
            let scale = n.r.max(MIN_RADIUS);
            let f = [0.2 * scale, 0.38 * scale, 0.75 * scale];
            let w = [0.25 + 0.1 * n.condensed, 0.4, 0.35 - 0.1 * n.condensed];
            let contrast = 0.7 + 0.2 * n.condensed;
            let zshift = 0.35 * z as f64;
            let peak = n.brightness[c] * focus;
            for y in y0..y1 {
                let row = &mut plane[y * nx..(y + 1) * nx];
                let py = y as f64 + 0.5 - n.y;
                for (x, out) in row.iter_mut().enumerate().take(x1).skip(x0) {
                    let px = x as f64 + 0.5 - n.x;
                    let along = py * n.uy + px * n.ux;
                    let across = px * n.uy - py * n.ux;
                    let (qa, qb) = (along / a, across / b);
                    let q = (qa * qa + qb * qb).sqrt();
                    // Distance outside the edge, pixels (negative inside).
                    let e = (q - 1.0) * mean_r;
                    if c == 0 {
                        let body = edge(e / blur);
                        if body <= 0.0 {
                            continue;
                        }
                        let mut tex = 0.0;
                        for k in 0..3 {
                            tex += w[k]
                                * self.texture.at(
                                    along / f[k] + n.tex[0] + 7.0 * k as f64 + zshift,
                                    across / f[k] + n.tex[1] + 13.0 * k as f64,
                                );
                        }
                        let chromatin = (1.0 + contrast * (tex - 0.5) * 2.0).max(0.05);
                        *out += peak * body * chromatin;
                    } else {
                        let body = edge(e / blur);
                        let ring = bump(e / (rim + 0.5 * blur));
                        let mut v = n.lamina * (ring + 0.18 * body);
                        if diffuse > 0.0 {
                            let rho = (py * py + px * px).sqrt();
                            v += diffuse * 0.3 * edge((rho - glow) / (blur + 1.5));
                        }
                        if v <= 0.0 {
                            continue;
                        }
                        let grain = self.texture.at(
                            along / f[1] + n.tex[1] + 31.0,
                            across / f[1] + n.tex[0] + zshift,
                        );
                        *out += peak * v * (0.8 + 0.4 * grain);
                    }
                }
            }
        }
        for (v, i) in plane.iter_mut().zip(&self.illumination) {
            *v *= i;
        }
    }

    /// The camera's counts for a noise-free `signal`: offset, shot noise and read noise, from
    /// the plane's own random stream.
    fn camera(&self, seed: u64, [t, c, z]: [usize; 3], signal: &[f64]) -> Array2<u16> {
        let key = [t, c, z].iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &v| {
            (h ^ v as u64).wrapping_mul(0x0000_0100_0000_01B3)
        });
        let mut rng = Rng(seed ^ key);
        let counts: Vec<u16> = signal
            .iter()
            .map(|&s| {
                // Four 16-bit uniforms from one draw: their sum, centred and scaled, is close
                // to a standard normal.
                let r = rng.next();
                let sum = (r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48);
                let normal = (sum as f64 / 65536.0 - 2.0) * 3.0f64.sqrt();
                let s = s.max(0.0);
                let sigma = (GAIN * s + READ_NOISE * READ_NOISE).sqrt();
                (OFFSET + s + sigma * normal).round().clamp(0.0, 65535.0) as u16
            })
            .collect();
        Array2::from_shape_vec((self.ny, self.nx), counts)
            .unwrap_or_else(|_| Array2::zeros((self.ny, self.nx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndimage::{Connectivity, Threshold};
    use crate::segment::{segment, SegmentParams};

    /// Plane (t, c, z) of `spec` as the writer gets it, without writing.
    fn planes(spec: &SampleSpec, c: usize, z: usize) -> (Vec<Array2<u16>>, Simulation) {
        let [nt, _, _, ny, nx] = spec.shape;
        let mut sim = Simulation::new(spec);
        let texture = Texture::new(spec.seed);
        let scene = Scene::new(spec.seed, &texture, [ny, nx]);
        let mut plane = vec![0.0; ny * nx];
        let mut out = Vec::new();
        for t in 0..nt {
            scene.render(&sim.blobs(t), c, z, &mut plane);
            out.push(scene.camera(spec.seed, [t, c, z], &plane));
            sim.step(t);
        }
        (out, sim)
    }

    #[test]
    fn the_tutorial_segmentation_finds_tens_of_nuclei_per_plane() {
        let spec = SampleSpec::default();
        let params = SegmentParams::new(2.0, Threshold::Otsu, Connectivity::Face).unwrap();
        for z in [2, 5] {
            let (planes, _) = planes(&spec, 0, z);
            for (t, p) in planes.iter().enumerate() {
                let count = segment(p, &params).unwrap().count;
                assert!((30..=60).contains(&count), "t {t} z {z}: {count} objects");
            }
        }
    }

    #[test]
    fn a_few_nuclei_divide_into_two() {
        let spec = SampleSpec::default();
        let sim = Simulation::new(&spec);
        let placed = sim.cells.len();
        let dividing = sim.cells.iter().filter(|c| c.divide_at.is_some()).count();
        assert!(placed >= 40, "{placed} nuclei placed");
        assert!((2..=5).contains(&dividing), "{dividing} divisions");
        let (_, sim) = planes(&spec, 0, 5);
        assert_eq!(sim.cells.len(), placed + dividing);
    }

    #[test]
    fn placement_stops_when_the_plane_is_full() {
        let spec = SampleSpec {
            shape: [2, 1, 1, 32, 32],
            nuclei: usize::MAX,
            ..SampleSpec::default()
        };
        let sim = Simulation::new(&spec);
        assert!(
            !sim.cells.is_empty() && sim.cells.len() < 200,
            "{}",
            sim.cells.len()
        );
    }

    #[test]
    fn channel_1_fills_its_window_and_the_noise_is_camera_like() {
        let spec = SampleSpec::default();
        let (ch1, _) = planes(&spec, 1, 5);
        let mut v: Vec<u16> = ch1[0].iter().copied().collect();
        v.sort_unstable();
        let at = |f: f64| v[((v.len() - 1) as f64 * f) as usize] as f64;
        // Background near the window's start, rims near its end.
        assert!((140.0..260.0).contains(&at(0.5)), "median {}", at(0.5));
        assert!((900.0..1800.0).contains(&at(0.995)), "99.5% {}", at(0.995));
        // Neighbouring background pixels differ by a few counts, not by salt and pepper.
        let (ch0, _) = planes(&spec, 0, 5);
        let p = &ch0[0];
        let diffs: Vec<f64> = (0..256 * 255)
            .map(|i| {
                (
                    p[(i / 255, i % 255)] as f64,
                    p[(i / 255, i % 255 + 1)] as f64,
                )
            })
            .filter(|&(a, b)| a < 250.0 && b < 250.0)
            .map(|(a, b)| a - b)
            .collect();
        assert!(diffs.len() > 20000, "{} background pairs", diffs.len());
        let rms = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((8.0..40.0).contains(&rms), "background rms step {rms}");
    }
}
