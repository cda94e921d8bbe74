"""Prompt-file parsing and motion lengths of infer.py."""
from types import SimpleNamespace

import pytest

from utils.files import MissingFileError
from utils.prompts import (MAX_FRAMES, PromptError, check_length, parse_length, prompts_from_options,
                           read_prompts_file)


@pytest.mark.parametrize("value,frames", [("3", 90), ("3s", 90), ("2.5 sec", 75), (" 4.0 seconds ", 120),
                                          ("90f", 90), ("88 frames", 88), (".5", 15), ("10", 300)])
def test_parse_length(value, frames):
    assert parse_length(value) == frames


def test_parse_length_other_fps():
    assert parse_length("2", fps=20) == 40 and parse_length("40f", fps=20) == 40


@pytest.mark.parametrize("value", ["", "abc", "3x", "-2", "f", "3 s f"])
def test_bad_length_is_named(value):
    with pytest.raises(PromptError, match="--motion_length: bad length"):
        parse_length(value)


def test_length_limits():
    assert check_length(MAX_FRAMES) == MAX_FRAMES
    with pytest.raises(PromptError, match=r"301 frames .* 4\.\.300 frames"):
        check_length(301)
    with pytest.raises(PromptError, match="outside"):
        check_length(3)


def test_prompts_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# a comment\n\ntwo people bow.\n  one waves, the other waves back #4s\n"
                 "they dance#60f\n   \n  # indented comment\n")
    ps = read_prompts_file(str(f), default_frames=90)
    assert [(p.text, p.frames) for p in ps] == [("two people bow.", 90),
                                               ("one waves, the other waves back", 120),
                                               ("they dance", 60)]
    assert ps[1].source.endswith("p.txt:4")


@pytest.mark.parametrize("content,line,msg", [("ok\n#c\n  #3\nfine#20\n", 4, "outside"),
                                             ("ok\n  #only comment\nx#abc\n", 3, "bad length"),
                                             ("ok\n#3s\n   #  \n  # 3s\n#\n#4\n  #5\n\t#6\nq# 2s\n", None, None)])
def test_prompts_file_errors_name_the_line(tmp_path, content, line, msg):
    f = tmp_path / "p.txt"
    f.write_text(content)
    if msg is None:
        assert [p.frames for p in read_prompts_file(str(f), 90)] == [90, 60]
        return
    with pytest.raises(PromptError, match=rf"p\.txt:{line}: .*{msg}"):
        read_prompts_file(str(f), 90)


def test_empty_prompt_with_length(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("good\n   x#3\n  \t #3\n")   # "#3" after blanks is a comment
    assert len(read_prompts_file(str(f), 90)) == 2
    opt = SimpleNamespace(text="  ", prompts_file=str(f), motion_length="90f")
    with pytest.raises(PromptError, match="--text: empty prompt"):
        prompts_from_options(opt)


def test_empty_file_and_missing_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# nothing\n\n")
    with pytest.raises(PromptError, match="no prompts"):
        read_prompts_file(str(f), 90)
    with pytest.raises(MissingFileError, match=r"missing .*nope\.txt: .*--text"):
        read_prompts_file(str(tmp_path / "nope.txt"), 90)


def test_prompts_from_options(tmp_path):
    opt = SimpleNamespace(text="two people hug#2", prompts_file="unused", motion_length="3")
    [p] = prompts_from_options(opt)
    assert (p.text, p.frames, p.source) == ("two people hug", 60, "--text")
    opt = SimpleNamespace(text="two people hug", prompts_file="unused", motion_length="11s")
    with pytest.raises(PromptError, match="--motion_length: length 330"):
        prompts_from_options(opt)
    f = tmp_path / "p.txt"
    f.write_text("a\nb#1\n")
    opt = SimpleNamespace(text=None, prompts_file=str(f), motion_length="2s")
    assert [(p.text, p.frames) for p in prompts_from_options(opt)] == [("a", 60), ("b", 30)]
