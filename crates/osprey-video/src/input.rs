//! Opening inputs: FFmpeg's demuxer (files, its RTSP client, HTTP, anything it opens) or the
//! retina RTSP task, with the decoder for the stream, and FFmpeg errors as [`VideoError`]s.
use ffmpeg_next as ff;

use crate::options::{ReaderOptions, StreamInfo};
use crate::rtsp::RetinaStream;
use crate::{Source, SourceKind, VideoError};

/// Where packets come from.
pub(crate) enum Demux {
    /// FFmpeg's demuxer (files, its RTSP client, HTTP, anything it opens).
    Ffmpeg {
        input: ff::format::context::Input,
        stream: usize,
    },
    /// Access units from the retina RTSP task.
    Retina {
        stream: RetinaStream,
        last_pts: Option<i64>,
    },
}

pub(crate) fn describe(e: &ff::Error) -> String {
    match e {
        ff::Error::Other { errno } if *errno == ff::util::error::ETIMEDOUT => {
            "timed out (no data)".to_string()
        }
        e => e.to_string(),
    }
}

pub(crate) fn is_auth(e: &ff::Error) -> bool {
    matches!(e, ff::Error::HttpUnauthorized | ff::Error::HttpForbidden)
        || matches!(e, ff::Error::Other { errno } if *errno == ff::util::error::EACCES || *errno == ff::util::error::EPERM)
}

pub(crate) fn set_threads(ctx: &mut ff::codec::context::Context, threads: usize) {
    ctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
}

pub(crate) fn client_name(kind: SourceKind, retina: bool) -> &'static str {
    match kind {
        SourceKind::Rtsp if retina => "retina",
        SourceKind::Rtsp => "ffmpeg-rtsp-tcp",
        k => k.as_str(),
    }
}

/// An opened source: where packets come from and the decoder for them.
pub(crate) struct Input {
    pub(crate) demux: Demux,
    pub(crate) decoder: ff::decoder::Video,
    /// Seconds per timestamp tick.
    pub(crate) time_base: f64,
    pub(crate) info: StreamInfo,
}

pub(crate) fn open_ffmpeg(source: &Source, opts: &ReaderOptions) -> Result<Input, VideoError> {
    let url = source.redacted();
    let micros = opts
        .timeout
        .as_micros()
        .clamp(1, i64::MAX as u128)
        .to_string();
    let mut dict = ff::Dictionary::new();
    match source.kind() {
        SourceKind::Rtsp => {
            dict.set("rtsp_transport", "tcp");
            // FFmpeg >= 5: socket I/O timeout of the RTSP client (microseconds).
            dict.set("timeout", &micros);
        }
        SourceKind::Mjpeg | SourceKind::Ffmpeg => {
            dict.set("rw_timeout", &micros);
        }
        SourceKind::File => {
            if let Some(p) = source.path() {
                if !p.exists() {
                    return Err(VideoError::Open {
                        url,
                        reason: "no such file".into(),
                    });
                }
            }
        }
    }
    let input = ff::format::input_with_dictionary(source.target(), dict).map_err(|e| {
        if is_auth(&e) {
            VideoError::Auth {
                url: url.clone(),
                reason: describe(&e),
            }
        } else if e == ff::Error::InvalidData {
            VideoError::NoVideo {
                url: url.clone(),
                reason: format!("not a video FFmpeg can read ({e})"),
            }
        } else {
            VideoError::Open {
                url: url.clone(),
                reason: describe(&e),
            }
        }
    })?;
    let no_video = |reason: String| VideoError::NoVideo {
        url: url.clone(),
        reason,
    };
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| no_video("no video stream".into()))?;
    let index = stream.index();
    let tb = stream.time_base();
    let time_base = if tb.denominator() != 0 {
        f64::from(tb.numerator()) / f64::from(tb.denominator())
    } else {
        0.0
    };
    let rate = stream.avg_frame_rate();
    let fps = (rate.denominator() != 0 && rate.numerator() > 0)
        .then(|| f64::from(rate.numerator()) / f64::from(rate.denominator()));
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| no_video(format!("codec parameters: {e}")))?;
    set_threads(&mut ctx, opts.decoder_threads);
    let codec_id = ctx.id();
    let decoder = ctx
        .decoder()
        .video()
        .map_err(|e| no_video(format!("no decoder for {codec_id:?}: {e}")))?;
    let info = StreamInfo {
        codec: format!("{codec_id:?}").to_ascii_lowercase(),
        width: decoder.width(),
        height: decoder.height(),
        fps,
    };
    Ok(Input {
        demux: Demux::Ffmpeg {
            input,
            stream: index,
        },
        decoder,
        time_base,
        info,
    })
}

/// A decoder for the access units retina delivers (Annex B, parameter sets in band).
pub(crate) fn retina_decoder(
    source: &Source,
    info: &StreamInfo,
    threads: usize,
) -> Result<ff::decoder::Video, VideoError> {
    let id = if info.codec == "hevc" {
        ff::codec::Id::HEVC
    } else {
        ff::codec::Id::H264
    };
    let no_video = |reason: String| VideoError::NoVideo {
        url: source.redacted(),
        reason,
    };
    let codec = ff::decoder::find(id).ok_or_else(|| no_video(format!("no decoder for {id:?}")))?;
    let mut ctx = ff::codec::context::Context::new_with_codec(codec);
    set_threads(&mut ctx, threads);
    ctx.decoder()
        .video()
        .map_err(|e| no_video(format!("no decoder for {id:?}: {e}")))
}

/// The stream's codec extradata (`avcC`/`hvcC` for MP4 and Matroska, Annex B parameter sets for
/// raw streams and FFmpeg's RTSP client; empty when there is none). `ffmpeg-next` has no safe
/// accessor for it.
#[allow(unsafe_code)]
pub(crate) fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: `params` wraps the stream's live `AVCodecParameters` (kept alive by the input
    // context it borrows from); FFmpeg guarantees `extradata` is null or points to
    // `extradata_size` readable bytes. The bytes are copied before the borrow ends.
    unsafe {
        let p = params.as_ptr();
        let (data, size) = ((*p).extradata, (*p).extradata_size);
        if data.is_null() || size <= 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts(data, size as usize).to_vec()
    }
}
