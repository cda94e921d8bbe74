"""Prompts and motion lengths for infer.py.

The official infer.py reads `./prompts.txt` (one prompt per line) and generates 90 frames for every
prompt. Here each prompt may carry its own length, written `prompt#seconds` or `prompt#<N>f` in the
file, and `--motion_length` sets the default. Blank lines and lines starting with `#` are skipped.
Every problem (missing file, empty prompt, bad or unsupported length) is a one-line error naming the
file and line or the flag.
"""
import os
import re
from dataclasses import dataclass

from data.skeleton import FPS
from utils.files import require_file

MAX_FRAMES = 300        # official maximum motion length (the transformer's 75 token steps x 4)
MIN_FRAMES = 4          # one token step; the decoder outputs 4 * (frames // 4) frames
_LENGTH = re.compile(r"^\s*(?:(?P<f>\d+)\s*f(?:rames?)?|(?P<s>\d+(?:\.\d*)?|\.\d+)\s*(?:s(?:ec(?:onds?)?)?)?)\s*$",
                     re.IGNORECASE)


class PromptError(ValueError):
    """A prompt or a length that cannot be used; the message is one line naming where it came from."""


@dataclass
class Prompt:
    text: str
    frames: int       # requested length in frames (the output has 4 * (frames // 4))
    source: str       # "file:line" or "--text", for messages


def parse_length(value, fps=FPS, where="--motion_length"):
    """'3', '3s', '2.5 sec' -> seconds * fps (rounded); '90f', '90 frames' -> 90. Returns frames."""
    m = _LENGTH.match(str(value))
    if not m:
        raise PromptError(f"{where}: bad length {value!r}; use seconds ('3', '3.5s') or frames ('90f')")
    if m.group("f") is not None:
        return int(m.group("f"))
    return int(round(float(m.group("s")) * fps))


def check_length(frames, where="--motion_length", fps=FPS, min_frames=MIN_FRAMES, max_frames=MAX_FRAMES):
    """Raise PromptError unless min_frames <= frames <= max_frames."""
    if not min_frames <= frames <= max_frames:
        raise PromptError(f"{where}: length {frames} frames ({frames / fps:.2f} s) is outside what the "
                          f"model supports: {min_frames}..{max_frames} frames "
                          f"({min_frames / fps:.2f}..{max_frames / fps:.2f} s)")
    return frames


def parse_prompt_line(line, default_frames, where, fps=FPS, min_frames=MIN_FRAMES, max_frames=MAX_FRAMES):
    """One line -> Prompt, or None for a blank line or a `#` comment."""
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    frames = default_frames
    if "#" in s:
        s, length = s.rsplit("#", 1)
        s = s.strip()
        frames = parse_length(length, fps, where)
    if not s:
        raise PromptError(f"{where}: empty prompt")
    return Prompt(s, check_length(frames, where, fps, min_frames, max_frames), where)


def read_prompts_file(path, default_frames, fps=FPS, min_frames=MIN_FRAMES, max_frames=MAX_FRAMES):
    """All prompts of a file (see the module docstring for the format)."""
    require_file(path, "write one prompt per line (optionally 'prompt#seconds'), or pass --text")
    prompts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            p = parse_prompt_line(line, default_frames, f"{path}:{n}", fps, min_frames, max_frames)
            if p is not None:
                prompts.append(p)
    if not prompts:
        raise PromptError(f"{path}: no prompts (only blank lines and # comments)")
    return prompts


def prompts_from_options(opt, fps=FPS, min_frames=MIN_FRAMES, max_frames=MAX_FRAMES):
    """The prompts infer.py runs: `--text` (one prompt, '#length' allowed) or `--prompts_file`, with
    `--motion_length` as the default length."""
    default = check_length(parse_length(opt.motion_length, fps), "--motion_length", fps, min_frames,
                           max_frames)
    if opt.text is not None:
        if not opt.text.strip() or opt.text.strip().startswith("#"):
            raise PromptError("--text: empty prompt")
        return [parse_prompt_line(opt.text, default, "--text", fps, min_frames, max_frames)]
    return read_prompts_file(os.fspath(opt.prompts_file), default, fps, min_frames, max_frames)
