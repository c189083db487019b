//! Where samples come from: fragmented MP4 read from any byte stream (an ffmpeg pipe, a file),
//! optionally looped with continuous timestamps and paced at real time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tern_cmaf::demux::{Demuxer, Event, Limits};
use tern_cmaf::{MediaTime, Sample, TrackInfo};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use crate::Error;

/// How errors name an input read through [`Fmp4Reader`] (a [`FileLoop`] names its file).
const INPUT: &str = "the input";

/// Bytes read from the input at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Fragmented MP4 from a byte stream: the init segment's tracks, then samples.
pub struct Fmp4Reader<R> {
    reader: R,
    demuxer: Demuxer,
    buf: Vec<u8>,
    ended: bool,
}

impl<R: AsyncRead + Unpin> Fmp4Reader<R> {
    /// Read from `reader`.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            demuxer: Demuxer::new(Limits::default()),
            buf: vec![0; READ_CHUNK],
            ended: false,
        }
    }

    /// The next event; `Ok(None)` at a clean end of input. Errors name what is wrong with the
    /// input (truncated, not fragmented, unsupported codec …).
    pub async fn next(&mut self) -> crate::Result<Option<Event>> {
        loop {
            if let Some(e) = self.demuxer.poll() {
                return Ok(Some(e));
            }
            if self.ended {
                return Ok(None);
            }
            let n = (self.reader.read(&mut self.buf).await).map_err(|e| Error::read(INPUT, e))?;
            if n == 0 {
                self.ended = true;
                self.demuxer.finish().map_err(|e| Error::media(INPUT, e))?;
                continue;
            }
            (self.demuxer.push(&self.buf[..n])).map_err(|e| Error::media(INPUT, e))?;
        }
    }

    /// Read until the init segment and return its tracks.
    pub async fn tracks(&mut self) -> crate::Result<Vec<TrackInfo>> {
        let missing = |reason| Error::Incomplete {
            input: INPUT.to_owned(),
            reason,
        };
        match self.next().await? {
            Some(Event::Init(tracks)) => Ok(tracks),
            Some(Event::Sample(_)) => Err(missing("samples came before the init segment")),
            None => Err(missing("it ended before its init segment")),
        }
    }
}

/// Sleeps so that samples leave at the pace of their media time.
#[derive(Debug)]
pub struct Pacer {
    start: Option<(Instant, MediaTime)>,
}

impl Pacer {
    /// A pacer that starts with the first sample.
    pub fn new() -> Self {
        Self { start: None }
    }

    /// Wait until `sample` is due (its decode time relative to the first sample's).
    pub async fn wait(&mut self, sample: &Sample) {
        let t = sample.decode_time();
        let (start, first) = *self.start.get_or_insert((Instant::now(), t));
        let ahead_us = t
            .rescale(1_000_000)
            .saturating_sub(first.rescale(1_000_000));
        tokio::time::sleep_until(start + Duration::from_micros(ahead_us)).await;
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

/// The embedded sample clip (see `origin/assets/README.md`): a 4-second three-rendition
/// ladder with AAC and Opus audio, as fragmented MP4.
pub const SAMPLE_CLIP: &[u8] = include_bytes!("../assets/ladder.mp4");

/// Something that can be read from the start as many times as needed.
#[derive(Debug, Clone)]
pub enum Input {
    /// A file.
    File(PathBuf),
    /// Bytes compiled into the binary.
    Embedded(&'static [u8]),
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;

impl Input {
    async fn open(&self) -> crate::Result<BoxRead> {
        Ok(match self {
            Self::File(path) => Box::new(
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| Error::read(path.display(), e))?,
            ),
            Self::Embedded(bytes) => Box::new(std::io::Cursor::new(*bytes)),
        })
    }

    fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Embedded(_) => "the embedded sample clip".to_owned(),
        }
    }
}

/// A fragmented MP4 played in a loop: each pass's timestamps continue where the last one
/// ended, so the broadcast looks live.
pub struct FileLoop {
    input: Input,
    reader: Fmp4Reader<BoxRead>,
    tracks: Vec<TrackInfo>,
    /// Ticks added to each track's decode times in this pass.
    offset: HashMap<u32, u64>,
    /// End (dts + duration) of each track's last sample in the file, in ticks.
    end: HashMap<u32, u64>,
    /// First decode time of each track in the file, in ticks.
    start: HashMap<u32, u64>,
    passes: u64,
}

impl FileLoop {
    /// Open a file and read its init segment.
    pub async fn open(path: &Path) -> crate::Result<Self> {
        Self::from_input(Input::File(path.to_owned())).await
    }

    /// Open `input` and read its init segment.
    pub async fn from_input(input: Input) -> crate::Result<Self> {
        let mut reader = Fmp4Reader::new(input.open().await?);
        let tracks = reader
            .tracks()
            .await
            .map_err(|e| e.of_input(input.describe()))?;
        Ok(Self {
            input,
            reader,
            tracks,
            offset: HashMap::new(),
            end: HashMap::new(),
            start: HashMap::new(),
            passes: 0,
        })
    }

    /// The file's tracks.
    pub fn tracks(&self) -> &[TrackInfo] {
        &self.tracks
    }

    /// Completed passes through the file.
    pub fn passes(&self) -> u64 {
        self.passes
    }

    /// The next sample, with timestamps continued across passes. Never ends unless the file
    /// holds no sample or becomes unreadable.
    pub async fn next(&mut self) -> crate::Result<Sample> {
        let mut empty_passes = 0;
        loop {
            match self.reader.next().await {
                Ok(Some(Event::Sample(mut s))) => {
                    let end = s.dts.saturating_add(u64::from(s.duration));
                    let e = self.end.entry(s.track).or_insert(0);
                    *e = (*e).max(end);
                    let b = self.start.entry(s.track).or_insert(s.dts);
                    *b = (*b).min(s.dts);
                    s.dts = s
                        .dts
                        .saturating_add(self.offset.get(&s.track).copied().unwrap_or(0));
                    return Ok(s);
                }
                Ok(Some(Event::Init(_))) => continue,
                Ok(None) => {}
                Err(e) => return Err(e.of_input(self.input.describe())),
            }
            // End of a pass: every track continues from the end of the longest one.
            if self.end.is_empty() {
                empty_passes += 1;
                if empty_passes >= 2 {
                    return Err(Error::Incomplete {
                        input: self.input.describe(),
                        reason: "it holds no samples",
                    });
                }
            }
            self.rewind()?;
            self.reader = Fmp4Reader::new(self.input.open().await?);
            self.passes += 1;
        }
    }

    fn rewind(&mut self) -> crate::Result<()> {
        let timescale = |id: u32| {
            self.tracks
                .iter()
                .find(|t| t.id == id)
                .map_or(1, |t| t.timescale)
        };
        let Some(longest) = self
            .end
            .iter()
            .map(|(&id, &end)| {
                let start = self.start.get(&id).copied().unwrap_or(0);
                MediaTime::new(end.saturating_sub(start), timescale(id))
            })
            .max_by(|a, b| a.as_secs_f64().total_cmp(&b.as_secs_f64()))
        else {
            return Ok(());
        };
        for t in &self.tracks {
            // Round up so that a track never starts before the previous pass ended.
            let exact = u128::from(longest.value) * u128::from(t.timescale);
            let ticks = exact.div_ceil(u128::from(longest.timescale));
            let add = u64::try_from(ticks).map_err(|_| Error::Incomplete {
                input: self.input.describe(),
                reason: "its timestamps overflow 64 bits when looped",
            })?;
            *self.offset.entry(t.id).or_insert(0) += add;
        }
        self.end.clear();
        self.start.clear();
        Ok(())
    }
}
