"""Tests of the units convention (coinfer.units): link rates, FLOP/s, bytes."""

import pytest

from coinfer.units import BITS_PER_BYTE, KILO, check_positive, format_rate, parse_bytes, parse_flops, parse_rate


@pytest.mark.parametrize("text, bits_per_s", [
    ("40KB/s", 320_000), ("40 KB/s", 320_000), ("40kB/s", 320_000), ("40KBps", 320_000),
    ("1B/s", 8), ("2.5MB/s", 20e6), ("1GB/s", 8e9), ("100bit/s", 100), ("64kbit/s", 64_000),
    ("1.5 Mbit/s", 1.5e6), ("1e3KB/s", 8e6),
])
def test_parse_rate_units(text, bits_per_s):
    assert parse_rate(text) == pytest.approx(bits_per_s)


@pytest.mark.parametrize("bad", ["40", "40 KB", "fast", "-5KB/s", "0KB/s", "40 XB/s", "inf KB/s", "", "KB/s"])
def test_parse_rate_rejects_bad_strings(bad):
    with pytest.raises(ValueError, match="rate"):
        parse_rate(bad)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, None])
def test_parse_rate_rejects_bad_numbers(bad):
    with pytest.raises(ValueError):
        parse_rate(bad)


def test_format_rate_round_trips():
    for text in ("40 KB/s", "1.5 MB/s", "500 B/s"):
        assert format_rate(parse_rate(text)) == text


def test_one_kilobyte_is_1000_bytes_of_8_bits():
    assert KILO * BITS_PER_BYTE == 8000 == parse_rate("1KB/s")


def test_flops_and_bytes():
    assert parse_flops("2.5G") == 2.5e9 and parse_flops("13.45TFLOP/s") == pytest.approx(13.45e12)
    assert parse_bytes("2e6") == 2e6 and parse_bytes("512MB") == 512e6
    for bad in ("fast", "-1GB", "0"):
        with pytest.raises(ValueError):
            parse_bytes(bad)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "1"])
def test_check_positive_names_the_quantity(bad):
    with pytest.raises(ValueError, match="speed"):
        check_positive("speed", bad)
