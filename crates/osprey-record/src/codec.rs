//! Sequence parameter set parsing and MP4 sample entries (`avc1`/`avcC`, `hvc1`/`hvcC`) with
//! their RFC 6381 codec strings.

use crate::annexb::{Codec, ParameterSets};
use crate::bits::{rbsp, BitReader};
use crate::mp4::write_box;
use crate::RecordError;

/// What recording needs from an H.264 SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Sps {
    /// `profile_idc` (66 Baseline, 77 Main, 100 High…).
    pub profile_idc: u8,
    /// The constraint-flags byte.
    pub constraints: u8,
    /// `level_idc` (30 = level 3.0).
    pub level_idc: u8,
    /// `chroma_format_idc` (1 = 4:2:0).
    pub chroma_format_idc: u32,
    /// Luma bit depth minus 8.
    pub bit_depth_luma_minus8: u32,
    /// Chroma bit depth minus 8.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width after cropping.
    pub width: u32,
    /// Displayed height after cropping.
    pub height: u32,
}

/// Parses an H.264 SPS NAL unit (header byte included).
pub fn parse_h264_sps(nal: &[u8]) -> Result<H264Sps, RecordError> {
    let data = rbsp(nal);
    if data.len() < 4 || data[0] & 0x1f != 7 {
        return Err(RecordError::bitstream("not an H.264 SPS"));
    }
    let (profile_idc, constraints, level_idc) = (data[1], data[2], data[3]);
    let mut r = BitReader::new(&data[4..]);
    r.ue()?; // seq_parameter_set_id
    let (mut chroma, mut separate, mut depth_l, mut depth_c) = (1, false, 0, 0);
    if matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue()?;
        if chroma == 3 {
            separate = r.flag()?;
        }
        depth_l = r.ue()?;
        depth_c = r.ue()?;
        r.flag()?; // qpprime_y_zero_transform_bypass_flag
        if r.flag()? {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if r.flag()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.flag()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.flag()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_map_units = r.ue()? + 1;
    let frame_mbs_only = r.flag()?;
    if !frame_mbs_only {
        r.flag()?; // mb_adaptive_frame_field_flag
    }
    r.flag()?; // direct_8x8_inference_flag
    let crop = if r.flag()? {
        [r.ue()?, r.ue()?, r.ue()?, r.ue()?]
    } else {
        [0; 4]
    };
    let array_type = if separate { 0 } else { chroma };
    let (sub_w, sub_h) = chroma_subsampling(array_type);
    let field = if frame_mbs_only { 1 } else { 2 };
    let crop_x = sub_w * (crop[0] + crop[1]);
    let crop_y = sub_h * field * (crop[2] + crop[3]);
    let width = (width_mbs * 16).checked_sub(crop_x);
    let height = (height_map_units * 16 * field).checked_sub(crop_y);
    let (Some(width), Some(height)) = (width, height) else {
        return Err(RecordError::bitstream("SPS cropping exceeds the picture"));
    };
    Ok(H264Sps {
        profile_idc,
        constraints,
        level_idc,
        chroma_format_idc: chroma,
        bit_depth_luma_minus8: depth_l,
        bit_depth_chroma_minus8: depth_c,
        width,
        height,
    })
}

/// (SubWidthC, SubHeightC) for a chroma array type; 1×1 for monochrome and 4:4:4.
fn chroma_subsampling(chroma_array_type: u32) -> (u32, u32) {
    match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    }
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), RecordError> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        last = if next == 0 { last } else { next };
    }
    Ok(())
}

/// What recording needs from an H.265 SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H265Sps {
    /// `general_profile_space`.
    pub profile_space: u8,
    /// `general_tier_flag`.
    pub tier: bool,
    /// `general_profile_idc` (1 Main, 2 Main 10).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flags` (flag 0 in the most significant bit).
    pub compatibility: u32,
    /// The 48 bits of general constraint indicator flags.
    pub constraints: [u8; 6],
    /// `general_level_idc` (level × 30).
    pub level_idc: u8,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub sub_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nested: bool,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u32,
    /// Luma bit depth minus 8.
    pub bit_depth_luma_minus8: u32,
    /// Chroma bit depth minus 8.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width after the conformance window.
    pub width: u32,
    /// Displayed height after the conformance window.
    pub height: u32,
}

/// Parses an H.265 SPS NAL unit (two-byte header included).
pub fn parse_h265_sps(nal: &[u8]) -> Result<H265Sps, RecordError> {
    let data = rbsp(nal);
    if data.len() < 3 || (data[0] >> 1) & 0x3f != 33 {
        return Err(RecordError::bitstream("not an H.265 SPS"));
    }
    let mut r = BitReader::new(&data[2..]);
    r.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    let temporal_id_nested = r.flag()?;
    let profile_space = r.bits(2)? as u8;
    let tier = r.flag()?;
    let profile_idc = r.bits(5)? as u8;
    let compatibility = r.bits(32)? as u32;
    let mut constraints = [0u8; 6];
    for c in &mut constraints {
        *c = r.bits(8)? as u8;
    }
    let level_idc = r.bits(8)? as u8;
    let mut present = Vec::with_capacity(max_sub_layers_minus1);
    for _ in 0..max_sub_layers_minus1 {
        present.push((r.flag()?, r.flag()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for (profile, level) in present {
        r.skip(if profile { 88 } else { 0 } + if level { 8 } else { 0 })?;
    }
    r.ue()?; // sps_seq_parameter_set_id
    let chroma = r.ue()?;
    let separate = chroma == 3 && r.flag()?;
    let mut width = r.ue()?;
    let mut height = r.ue()?;
    if r.flag()? {
        let (sub_w, sub_h) = chroma_subsampling(if separate { 0 } else { chroma });
        let [left, right, top, bottom] = [r.ue()?, r.ue()?, r.ue()?, r.ue()?];
        let w = width.checked_sub(sub_w * (left + right));
        let h = height.checked_sub(sub_h * (top + bottom));
        let (Some(w), Some(h)) = (w, h) else {
            return Err(RecordError::bitstream(
                "SPS conformance window exceeds the picture",
            ));
        };
        (width, height) = (w, h);
    }
    Ok(H265Sps {
        profile_space,
        tier,
        profile_idc,
        compatibility,
        constraints,
        level_idc,
        sub_layers: max_sub_layers_minus1 as u8 + 1,
        temporal_id_nested,
        chroma_format_idc: chroma,
        bit_depth_luma_minus8: r.ue()?,
        bit_depth_chroma_minus8: r.ue()?,
        width,
        height,
    })
}

/// A stream's codec configuration, ready for an MP4 init segment and for MSE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoParams {
    /// The codec.
    pub codec: Codec,
    /// Displayed width in pixels.
    pub width: u16,
    /// Displayed height in pixels.
    pub height: u16,
    /// The RFC 6381 codec string (`avc1.4D401E`, `hvc1.1.6.L93.B0`).
    pub codec_string: String,
    /// The complete `avc1` or `hvc1` sample entry box.
    pub sample_entry: Vec<u8>,
}

impl VideoParams {
    /// Builds the configuration from complete parameter sets.
    pub fn new(codec: Codec, ps: &ParameterSets) -> Result<Self, RecordError> {
        if !ps.is_complete(codec) {
            return Err(RecordError::bitstream("missing parameter sets"));
        }
        let (width, height, codec_string, config) = match codec {
            Codec::H264 => {
                let sps = parse_h264_sps(&ps.sps)?;
                let s = format!("avc1.{:02X}{:02X}{:02X}", ps.sps[1], ps.sps[2], ps.sps[3]);
                (sps.width, sps.height, s, avcc(&sps, ps))
            }
            Codec::H265 => {
                let sps = parse_h265_sps(&ps.sps)?;
                (
                    sps.width,
                    sps.height,
                    hevc_codec_string(&sps),
                    hvcc(&sps, ps),
                )
            }
        };
        let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
            return Err(RecordError::bitstream("picture too large"));
        };
        let fourcc = if codec == Codec::H264 {
            b"avc1"
        } else {
            b"hvc1"
        };
        let mut sample_entry = Vec::new();
        write_box(&mut sample_entry, fourcc, |b| {
            b.extend_from_slice(&[0; 6]); // reserved
            b.extend_from_slice(&1u16.to_be_bytes()); // data_reference_index
            b.extend_from_slice(&[0; 16]); // pre_defined, reserved
            b.extend_from_slice(&w.to_be_bytes());
            b.extend_from_slice(&h.to_be_bytes());
            b.extend_from_slice(&0x0048_0000u32.to_be_bytes()); // 72 dpi
            b.extend_from_slice(&0x0048_0000u32.to_be_bytes());
            b.extend_from_slice(&[0; 4]); // reserved
            b.extend_from_slice(&1u16.to_be_bytes()); // frame_count
            b.extend_from_slice(&[0; 32]); // compressorname
            b.extend_from_slice(&0x0018u16.to_be_bytes()); // depth
            b.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
            b.extend_from_slice(&config);
        });
        Ok(VideoParams {
            codec,
            width: w,
            height: h,
            codec_string,
            sample_entry,
        })
    }
}

fn avcc(sps: &H264Sps, ps: &ParameterSets) -> Vec<u8> {
    let mut out = Vec::new();
    write_box(&mut out, b"avcC", |b| {
        b.extend_from_slice(&[
            1,
            sps.profile_idc,
            sps.constraints,
            sps.level_idc,
            0xff,
            0xe1,
        ]);
        b.extend_from_slice(&(ps.sps.len() as u16).to_be_bytes());
        b.extend_from_slice(&ps.sps);
        b.push(1);
        b.extend_from_slice(&(ps.pps.len() as u16).to_be_bytes());
        b.extend_from_slice(&ps.pps);
        if matches!(sps.profile_idc, 100 | 110 | 122 | 144) {
            b.push(0xfc | sps.chroma_format_idc as u8);
            b.push(0xf8 | sps.bit_depth_luma_minus8 as u8);
            b.push(0xf8 | sps.bit_depth_chroma_minus8 as u8);
            b.push(0); // numOfSequenceParameterSetExt
        }
    });
    out
}

fn hvcc(sps: &H265Sps, ps: &ParameterSets) -> Vec<u8> {
    let mut out = Vec::new();
    write_box(&mut out, b"hvcC", |b| {
        b.push(1);
        b.push(sps.profile_space << 6 | u8::from(sps.tier) << 5 | sps.profile_idc);
        b.extend_from_slice(&sps.compatibility.to_be_bytes());
        b.extend_from_slice(&sps.constraints);
        b.push(sps.level_idc);
        b.extend_from_slice(&0xf000u16.to_be_bytes()); // min_spatial_segmentation_idc 0
        b.push(0xfc); // parallelismType unknown
        b.push(0xfc | sps.chroma_format_idc as u8);
        b.push(0xf8 | sps.bit_depth_luma_minus8 as u8);
        b.push(0xf8 | sps.bit_depth_chroma_minus8 as u8);
        b.extend_from_slice(&0u16.to_be_bytes()); // avgFrameRate unknown
                                                  // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
        b.push((sps.sub_layers & 7) << 3 | u8::from(sps.temporal_id_nested) << 2 | 3);
        b.push(3);
        for (nal_type, nal) in [(32u8, &ps.vps), (33, &ps.sps), (34, &ps.pps)] {
            b.push(0x80 | nal_type); // array_completeness = 1
            b.extend_from_slice(&1u16.to_be_bytes());
            b.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            b.extend_from_slice(nal);
        }
    });
    out
}

/// `hvc1.<space><profile>.<compat, bit-reversed hex>.<L|H><level>.<constraint bytes>`
/// (ISO/IEC 14496-15 annex E).
fn hevc_codec_string(sps: &H265Sps) -> String {
    let space = ["", "A", "B", "C"][usize::from(sps.profile_space & 3)];
    let tier = if sps.tier { 'H' } else { 'L' };
    let mut s = format!(
        "hvc1.{space}{}.{:X}.{tier}{}",
        sps.profile_idc,
        sps.compatibility.reverse_bits(),
        sps.level_idc
    );
    let used = sps
        .constraints
        .iter()
        .rposition(|&c| c != 0)
        .map_or(0, |i| i + 1);
    for c in &sps.constraints[..used] {
        s.push_str(&format!(".{c:02X}"));
    }
    s
}

/// x264's SPS for the 480x360 Main@3.0 test clip (368 coded rows, 8 cropped).
#[cfg(test)]
pub(crate) const TEST_SPS: [u8; 28] = [
    0x67, 0x4d, 0x40, 0x1e, 0xd9, 0x81, 0xe0, 0xbf, 0xe5, 0xc0, 0x5a, 0x80, 0x80, 0x80, 0xa0, 0x00,
    0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x02, 0x81, 0xe2, 0xc5, 0xcd,
];
/// The PPS of the test clip.
#[cfg(test)]
pub(crate) const TEST_PPS: [u8; 6] = [0x68, 0xe9, 0x70, 0x23, 0x2c, 0x80];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_sps_with_cropping() {
        let sps = parse_h264_sps(&TEST_SPS).unwrap();
        assert_eq!((sps.width, sps.height), (480, 360));
        assert_eq!((sps.profile_idc, sps.level_idc), (77, 30));
        let ps = ParameterSets {
            vps: vec![],
            sps: TEST_SPS.to_vec(),
            pps: TEST_PPS.to_vec(),
        };
        let v = VideoParams::new(Codec::H264, &ps).unwrap();
        assert_eq!(v.codec_string, "avc1.4D401E");
        assert_eq!(&v.sample_entry[4..8], b"avc1");
        assert_eq!(v.sample_entry.len(), 86 + 8 + 6 + 2 + 28 + 1 + 2 + 6);
    }

    #[test]
    fn hevc_codec_string_for_main() {
        let sps = H265Sps {
            profile_space: 0,
            tier: false,
            profile_idc: 1,
            compatibility: 0x6000_0000,
            constraints: [0xb0, 0, 0, 0, 0, 0],
            level_idc: 93,
            sub_layers: 1,
            temporal_id_nested: true,
            chroma_format_idc: 1,
            bit_depth_luma_minus8: 0,
            bit_depth_chroma_minus8: 0,
            width: 480,
            height: 360,
        };
        assert_eq!(hevc_codec_string(&sps), "hvc1.1.6.L93.B0");
    }
}
