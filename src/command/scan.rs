//! Byte searches sized to the haystack: a plain loop on short slices, SIMD
//! `memchr` on long ones.
//!
//! Almost every search the parser makes is over a command line of a few dozen
//! bytes (`@mosaic fix acme/web#42` is 23). There `memchr`'s set-up (CPU
//! feature dispatch, alignment, vector splats) costs more than the search:
//! measured with callgrind, `memchr`, `memrchr` and `memchr2` took ~35–45
//! instructions each on the 23-byte bench command, against ~2–3 per byte for
//! a loop. Long chat messages (the 4 KB bench) still go through `memchr`,
//! which wins there by an order of magnitude. The results are identical
//! either way (proved by the property tests below).

/// Below this many bytes a loop beats `memchr`: the crossover measured with
/// callgrind on this machine's AVX2 `memchr` lies between 24 and 40 bytes.
const SHORT: usize = 32;

/// The offset of the first `needle` in `hay`.
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < SHORT {
        hay.iter().position(|&b| b == needle)
    } else {
        memchr::memchr(needle, hay)
    }
}

/// The offset of the last `needle` in `hay`.
#[inline]
pub(crate) fn rfind(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < SHORT {
        hay.iter().rposition(|&b| b == needle)
    } else {
        memchr::memrchr(needle, hay)
    }
}

/// The offset of the first `a` or `b` in `hay`.
#[inline]
pub(crate) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < SHORT {
        hay.iter().position(|&c| c == a || c == b)
    } else {
        memchr::memchr2(a, b, hay)
    }
}

/// How many `needle` bytes `hay` holds.
#[inline]
pub(crate) fn count(needle: u8, hay: &[u8]) -> usize {
    if hay.len() < SHORT {
        hay.iter().filter(|&&b| b == needle).count()
    } else {
        bytecount::count(hay, needle)
    }
}

/// Where the line starting `hay` ends (its first `\n`, if any), and whether a
/// backtick or tilde stands before that end, for a line the usual line's
/// shortcut leaves to the full reading. One `memchr3` answers both on a line
/// with no backtick or tilde; a byte loop took ~7 instructions a
/// byte here, since it tests each byte for three values (callgrind).
#[inline]
pub(crate) fn line_end(hay: &[u8]) -> (Option<usize>, bool) {
    match memchr::memchr3(b'\n', b'`', b'~', hay) {
        None => (None, false),
        Some(i) if hay[i] == b'\n' => (Some(i), false),
        Some(i) => (find(b'\n', &hay[i..]).map(|n| i + n), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Haystacks from 0 to well past `SHORT` bytes, over a small alphabet so
    // that needles occur, are absent, and repeat.
    fn hay() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(b"@\n`~ax".to_vec()), 0..100)
    }

    proptest! {
        #[test]
        fn loops_and_memchr_agree_at_every_length(hay in hay()) {
            for needle in [b'@', b'\n', b'`', b'z'] {
                prop_assert_eq!(find(needle, &hay), memchr::memchr(needle, &hay));
                prop_assert_eq!(rfind(needle, &hay), memchr::memrchr(needle, &hay));
                prop_assert_eq!(count(needle, &hay), bytecount::count(&hay, needle));
                prop_assert_eq!(find2(needle, b'~', &hay), memchr::memchr2(needle, b'~', &hay));
            }
            let newline = memchr::memchr(b'\n', &hay);
            let line = &hay[..newline.unwrap_or(hay.len())];
            prop_assert_eq!(line_end(&hay), (newline, memchr::memchr2(b'`', b'~', line).is_some()));
        }
    }

    #[test]
    fn both_sides_of_the_threshold_find_the_last_byte() {
        for len in [SHORT - 1, SHORT, SHORT + 1] {
            let mut hay = vec![b'a'; len];
            hay[len - 1] = b'@';
            assert_eq!(find(b'@', &hay), Some(len - 1));
            assert_eq!(rfind(b'@', &hay), Some(len - 1));
            assert_eq!(find2(b'`', b'@', &hay), Some(len - 1));
            assert_eq!(count(b'@', &hay), 1);
        }
    }
}
