//! Annex B byte streams: splitting access units into NAL units, classifying them, and converting
//! them to the length-prefixed form MP4 samples use.

/// The video codec of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl From<osprey_schema::media::VideoCodec> for Codec {
    fn from(c: osprey_schema::media::VideoCodec) -> Codec {
        match c {
            osprey_schema::media::VideoCodec::H264 => Codec::H264,
            osprey_schema::media::VideoCodec::H265 => Codec::H265,
        }
    }
}

/// What a NAL unit is, as far as recording cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalKind {
    /// A slice of a random-access picture (H.264 IDR; H.265 IRAP, types 16..=23).
    Keyframe,
    /// Any other coded slice.
    Slice,
    /// H.265 video parameter set.
    Vps,
    /// Sequence parameter set.
    Sps,
    /// Picture parameter set.
    Pps,
    /// Access unit delimiter.
    Aud,
    /// Supplemental enhancement information (kept in samples).
    Sei,
    /// Anything else (kept in samples).
    Other,
}

impl NalKind {
    /// Whether this is a parameter set (VPS, SPS or PPS).
    pub fn is_parameter_set(self) -> bool {
        matches!(self, NalKind::Vps | NalKind::Sps | NalKind::Pps)
    }
}

/// Classifies one NAL unit (header included) of `codec`. An empty unit is `Other`.
pub fn classify(codec: Codec, nal: &[u8]) -> NalKind {
    let Some(&h) = nal.first() else {
        return NalKind::Other;
    };
    match codec {
        Codec::H264 => match h & 0x1f {
            5 => NalKind::Keyframe,
            1..=4 => NalKind::Slice,
            6 => NalKind::Sei,
            7 => NalKind::Sps,
            8 => NalKind::Pps,
            9 => NalKind::Aud,
            _ => NalKind::Other,
        },
        Codec::H265 => match (h >> 1) & 0x3f {
            16..=23 => NalKind::Keyframe,
            0..=9 => NalKind::Slice,
            32 => NalKind::Vps,
            33 => NalKind::Sps,
            34 => NalKind::Pps,
            35 => NalKind::Aud,
            39 | 40 => NalKind::Sei,
            _ => NalKind::Other,
        },
    }
}

/// Splits an Annex B byte string into NAL units (without start codes). Bytes before the first
/// start code are ignored; trailing zero bytes of each unit (`trailing_zero_8bits`) are removed.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                units.push(trim_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start {
        units.push(trim_zeros(&data[s..]));
    }
    units.retain(|u| !u.is_empty());
    units
}

fn trim_zeros(mut u: &[u8]) -> &[u8] {
    while let [rest @ .., 0] = u {
        u = rest;
    }
    u
}

/// The parameter sets of a stream (the latest of each kind seen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterSets {
    /// H.265 VPS (empty for H.264).
    pub vps: Vec<u8>,
    /// The SPS.
    pub sps: Vec<u8>,
    /// The PPS.
    pub pps: Vec<u8>,
}

impl ParameterSets {
    /// The parameter sets found in an Annex B byte string (e.g.
    /// [`osprey_schema::media::EncodedStream::parameter_sets`]).
    pub fn from_annexb(codec: Codec, data: &[u8]) -> ParameterSets {
        let mut ps = ParameterSets::default();
        ps.update(codec, &split(data));
        ps
    }

    /// Whether every parameter set `codec` needs is present.
    pub fn is_complete(&self, codec: Codec) -> bool {
        !self.sps.is_empty()
            && !self.pps.is_empty()
            && (codec == Codec::H264 || !self.vps.is_empty())
    }

    /// Replaces the parameter sets found in `units`; returns whether any was found.
    pub fn update(&mut self, codec: Codec, units: &[&[u8]]) -> bool {
        let mut found = false;
        for u in units {
            let slot = match classify(codec, u) {
                NalKind::Vps => &mut self.vps,
                NalKind::Sps => &mut self.sps,
                NalKind::Pps => &mut self.pps,
                _ => continue,
            };
            slot.clear();
            slot.extend_from_slice(u);
            found = true;
        }
        found
    }
}

/// Converts NAL units to an MP4 sample: each unit prefixed by its 4-byte big-endian length,
/// dropping access unit delimiters and parameter sets (they live in the sample entry).
pub fn to_sample(codec: Codec, units: &[&[u8]], out: &mut Vec<u8>) {
    for u in units {
        let kind = classify(codec, u);
        if kind == NalKind::Aud || kind.is_parameter_set() {
            continue;
        }
        out.extend_from_slice(&(u.len() as u32).to_be_bytes());
        out.extend_from_slice(u);
    }
}

/// Whether the access unit's NAL units contain a keyframe slice.
pub fn is_keyframe(codec: Codec, units: &[&[u8]]) -> bool {
    units
        .iter()
        .any(|u| classify(codec, u) == NalKind::Keyframe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5, 0,
        ];
        let units = split(&au);
        assert_eq!(
            units,
            vec![&[9u8, 0xf0][..], &[0x67, 1, 2], &[0x68, 3], &[0x65, 4, 5]]
        );
        let kinds: Vec<_> = units.iter().map(|u| classify(Codec::H264, u)).collect();
        assert_eq!(
            kinds,
            [NalKind::Aud, NalKind::Sps, NalKind::Pps, NalKind::Keyframe]
        );
        let mut ps = ParameterSets::default();
        assert!(ps.update(Codec::H264, &units));
        assert!(ps.is_complete(Codec::H264) && !ps.is_complete(Codec::H265));
        assert_eq!(ps.sps, [0x67, 1, 2]);
        let mut sample = Vec::new();
        to_sample(Codec::H264, &units, &mut sample);
        assert_eq!(sample, [0, 0, 0, 3, 0x65, 4, 5]);
        assert!(is_keyframe(Codec::H264, &units));
    }

    #[test]
    fn ignores_leading_garbage_and_empty_units() {
        assert!(split(&[1, 2, 3]).is_empty());
        assert_eq!(
            split(&[7, 0, 0, 1, 0, 0, 1, 0x41, 9]),
            vec![&[0x41u8, 9][..]]
        );
    }

    #[test]
    fn classifies_hevc() {
        let k = |t: u8| classify(Codec::H265, &[t << 1, 1]);
        assert_eq!(k(19), NalKind::Keyframe);
        assert_eq!(k(21), NalKind::Keyframe);
        assert_eq!(k(1), NalKind::Slice);
        assert_eq!(k(32), NalKind::Vps);
        assert_eq!(k(33), NalKind::Sps);
        assert_eq!(k(34), NalKind::Pps);
        assert_eq!(k(35), NalKind::Aud);
        assert_eq!(k(39), NalKind::Sei);
        assert_eq!(k(40), NalKind::Sei);
    }
}
