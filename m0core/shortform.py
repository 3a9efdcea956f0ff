"""Short-form clips (Shorts, Reels, TikTok): the settings and their checks.

:class:`ShortForm` is what the ``--aspect``, ``--fit``, ``--height``, ``--loudness`` and
``--fade`` options resolve to; the clip encoder applies it (``m0_plugins.ffmpeg_encoder``
builds the ffmpeg filters). Every bad value is one :class:`~m0core.errors.OptionError` line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from m0core.checks import number, whole
from m0core.errors import OptionError

#: How a frame of another shape is fitted: the whole frame over a blurred, zoomed copy of
#: itself; a centred cut; bars.
FITS = ("blur", "crop", "pad")
#: The tallest frame a default ``height`` keeps (a 4K source gives 1920-pixel clips).
MAX_DEFAULT_HEIGHT = 1920
#: The true-peak ceiling (dBTP) of loudness-normalised clips (EBU R128 for streaming).
TRUE_PEAK = -1.0
#: Integrated loudness targets m0 accepts, in LUFS (ffmpeg's own loudness filters' range).
LOUDNESS_RANGE = (-70.0, -5.0)

_ASPECT = re.compile(r"^\s*(\d{1,9})\s*:\s*(\d{1,9})\s*$")


def parse_aspect(value: str) -> tuple[int, int]:
    """``"9:16"`` → ``(9, 16)``; anything else (``9x``, ``0:1``, ``30:1``) is an error."""
    m = _ASPECT.match(value) if isinstance(value, str) else None
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise OptionError(f"aspect must be W:H with two whole numbers from 1, e.g. 9:16, "
                          f"not {value!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if not 0.1 <= w / h <= 10:
        raise OptionError(f"aspect {value!r} is too extreme (W:H must be between 1:10 and 10:1)")
    return w, h


@dataclass(frozen=True)
class ShortForm:
    """How each clip is reshaped for short-form platforms.

    Parameters
    ----------
    aspect:
        ``(W, H)`` of the frame, e.g. ``(9, 16)``; ``None`` keeps the source's.
    fit:
        ``blur``, ``crop`` or ``pad`` (see :data:`FITS`): how a frame of another shape is fitted.
    height:
        Frame height in pixels (even); ``None``: the source's, at most
        :data:`MAX_DEFAULT_HEIGHT`.
    loudness:
        Integrated loudness of each clip in LUFS (EBU R128), true-peak limited to
        :data:`TRUE_PEAK`; ``None`` keeps the source's levels.
    fade:
        Seconds of audio and video fade at both ends of each clip (and of the crossfades of
        a compilation); 0 for none.
    """

    aspect: tuple[int, int] | None = None
    fit: str = "blur"
    height: int | None = None
    loudness: float | None = None
    fade: float = 0.0

    @classmethod
    def from_values(cls, aspect: str | None = None, fit: str = "blur", height: Any = None,
                    loudness: Any = None, fade: Any = 0.0) -> ShortForm:
        """Check option values (as the CLI and :class:`~m0core.Options` hold them)."""
        if fit not in FITS:
            raise OptionError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
        if height is not None:
            height = whole("height", height, low=32, high=4320)
            if height % 2:
                raise OptionError(f"height must be an even number of pixels, not {height}")
        if loudness is not None:
            loudness = number("loudness", loudness, low=LOUDNESS_RANGE[0],
                              high=LOUDNESS_RANGE[1])
        return cls(aspect=None if aspect is None else parse_aspect(aspect), fit=fit,
                   height=height, loudness=loudness,
                   fade=number("fade", fade, low=0.0, high=60.0))

    @property
    def reframes(self) -> bool:
        """The picture is scaled or reshaped."""
        return self.aspect is not None or self.height is not None

    @property
    def active(self) -> bool:
        """Anything to do: then every clip is re-encoded (frame-exact)."""
        return self.reframes or self.loudness is not None or self.fade > 0

    def to_dict(self) -> dict[str, Any]:
        """The settings, JSON-ready (the ``short_form`` block of highlights.json)."""
        return {"aspect": None if self.aspect is None else f"{self.aspect[0]}:{self.aspect[1]}",
                "fit": self.fit, "height": self.height, "loudness": self.loudness,
                "true_peak": TRUE_PEAK if self.loudness is not None else None,
                "fade": self.fade}
