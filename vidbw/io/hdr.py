"""HDR10 static metadata: read from the source's decoded frames, written by the output's encoder.

An HDR10 master carries, beside its PQ / BT.2020 colour tags, the mastering display's colour
volume (SMPTE ST 2086) and the content light levels (MaxCLL, MaxFALL). Delivery specifications
require both, and players use them to tone-map. FFmpeg's decoders attach them to decoded frames
as side data (from H.264 / HEVC SEI, to the keyframes that carry it), so the first frame a film or
a chunked job's segment decodes, a keyframe, tells them.

PyAV cannot attach side data to the frames or streams it encodes, so they are handed to x264 and
x265 as encoder parameters, which write them as SEI in every keyframe (so a chunked job's joined
segments carry them too). Other encoders (ProRes, DNxHR, FFV1) have no place for them in their
bitstream; the writer names them among what was not copied.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import av.sidedata.sidedata  # already loaded by `import av`; named so the type checker sees the submodule

__all__ = ["Hdr10Metadata", "hdr10_metadata", "encoder_options", "SEI_ENCODERS"]

# The encoder parameter each x26x encoder takes (x264 and x265 spell them differently).
SEI_ENCODERS = {
    "libx264": {"params": "x264-params", "display": "mastering-display", "light": "cll"},
    "libx265": {"params": "x265-params", "display": "master-display", "light": "max-cll"},
}
CHROMATICITY_UNIT = 50000  # ST 2086 / H.265 SEI: chromaticity in steps of 0.00002
LUMINANCE_UNIT = 10000  # and luminance in steps of 0.0001 cd/m²

# libavutil's AVMasteringDisplayMetadata: AVRational display_primaries[3][2] (R, G, B; x, y),
# white_point[2], min_luminance, max_luminance (each AVRational = int num, int den),
# then int has_primaries, int has_luminance.
_MASTERING_LAYOUT = struct.Struct("=20i2i")
# AVContentLightMetadata: unsigned MaxCLL, unsigned MaxFALL.
_LIGHT_LAYOUT = struct.Struct("=2I")


@dataclass(frozen=True)
class Hdr10Metadata:
    """The mastering display (chromaticities of R, G, B and white; luminance max and min, cd/m²) and
    the content light levels (cd/m²). A part the source did not carry is None."""

    primaries: tuple[tuple[Fraction, Fraction], ...] | None = None  # ((Rx, Ry), (Gx, Gy), (Bx, By))
    white_point: tuple[Fraction, Fraction] | None = None
    luminance: tuple[Fraction, Fraction] | None = None  # (max, min)
    max_cll: int | None = None
    max_fall: int | None = None

    @property
    def has_display(self) -> bool:
        return self.primaries is not None and self.white_point is not None and self.luminance is not None

    @property
    def has_light_level(self) -> bool:
        return self.max_cll is not None

    def display_parameter(self) -> str:
        """The mastering display as x264 / x265 write it: G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)."""

        def chroma(point):
            return f"({round(point[0] * CHROMATICITY_UNIT)},{round(point[1] * CHROMATICITY_UNIT)})"

        assert self.primaries is not None and self.luminance is not None  # callers check has_display
        red, green, blue = self.primaries
        top, bottom = self.luminance
        return (
            f"G{chroma(green)}B{chroma(blue)}R{chroma(red)}WP{chroma(self.white_point)}"
            f"L({round(top * LUMINANCE_UNIT)},{round(bottom * LUMINANCE_UNIT)})"
        )


def _rational(num: int, den: int) -> Fraction:
    return Fraction(num, den) if den else Fraction(0)


def hdr10_metadata(frame: av.VideoFrame | None) -> Hdr10Metadata | None:
    """The HDR10 static metadata a decoded frame carries, or None when it carries none."""
    if frame is None:
        return None
    try:
        sides = list(frame.side_data.values())  # a Mapping of sidedata.Type to SideData (PyAV 18.1.1)
    except ValueError:
        # A side datum of a type newer than PyAV's enum (FFmpeg 8 tags 16-bit TIFF frames with
        # type 31) cannot be read: such a frame's metadata cannot be read either.
        return None
    fields: dict[str, Any] = {}
    for side in sides:
        data = bytes(side)
        if side.type == av.sidedata.sidedata.Type.MASTERING_DISPLAY_METADATA and len(data) >= _MASTERING_LAYOUT.size:
            values = _MASTERING_LAYOUT.unpack_from(data)
            points = [_rational(values[i], values[i + 1]) for i in range(0, 20, 2)]
            has_primaries, has_luminance = values[20], values[21]
            if has_primaries:
                fields["primaries"] = ((points[0], points[1]), (points[2], points[3]), (points[4], points[5]))
                fields["white_point"] = (points[6], points[7])
            if has_luminance:
                fields["luminance"] = (points[9], points[8])  # stored min first, then max
        elif side.type == av.sidedata.sidedata.Type.CONTENT_LIGHT_LEVEL and len(data) >= _LIGHT_LAYOUT.size:
            fields["max_cll"], fields["max_fall"] = _LIGHT_LAYOUT.unpack_from(data)
    return Hdr10Metadata(**fields) if fields else None


def encoder_options(codec: str, options: dict, metadata: Hdr10Metadata | None) -> tuple[dict, str | None]:
    """`options` with the encoder parameters that write `metadata`, and a note when this encoder cannot
    write it (None otherwise)."""
    if metadata is None or not (metadata.has_display or metadata.has_light_level):
        return options, None
    names = SEI_ENCODERS.get(codec)
    if names is None:
        return (
            options,
            f"HDR10 mastering display and light levels ({codec} cannot store them; write H.264 or HEVC to keep them)",
        )
    params = []
    if metadata.has_display:
        params.append(f"{names['display']}={metadata.display_parameter()}")
    if metadata.has_light_level:
        params.append(f"{names['light']}={metadata.max_cll},{metadata.max_fall or 0}")
    return with_encoder_params(options, names["params"], *params), None


def with_encoder_params(options: dict, key: str, *params: str) -> dict:
    """`options` with `params` added to the encoder's own colon-separated parameter list `key`
    (x264-params, x265-params), after any it already holds."""
    return {**options, key: ":".join(p for p in (options.get(key), *params) if p)}
