//! The `Range` request header, for single byte ranges (RFC 9110 §14).
//!
//! What a request gets:
//! - `bytes=0-8` → bytes 0 to 8; `bytes=-10` → the last 10; `bytes=5-` → from 5 to the end;
//!   a last position past the end is clamped to the end.
//! - `bytes=100000-` on a shorter object, `bytes=5-2`, `bytes=-0`, `bytes=alpha`, a header
//!   without `=`, any range on an empty object → 416 with `Content-Range: bytes */LEN`.
//! - Several ranges → the whole object with 200 (allowed by RFC 9110 §14.2; players never ask
//!   for more than one).
//! - Another unit (`items=0-1`) → the header is ignored (§14.2: unknown units are ignored).

/// What a `Range` header asks of an object of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Send the whole object (no header, another unit, or several ranges).
    Full,
    /// Send bytes `start..=end` with 206.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// Answer 416.
    Unsatisfiable,
}

impl RangeOutcome {
    /// The `Content-Range` value for this outcome on an object of `len` bytes.
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            Self::Full => None,
            Self::Partial { start, end } => Some(format!("bytes {start}-{end}/{len}")),
            Self::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

/// Decides what `header` (the `Range` value, if any) asks of an object of `len` bytes.
pub fn parse(header: Option<&str>, len: u64) -> RangeOutcome {
    let Some(header) = header else {
        return RangeOutcome::Full;
    };
    let Some((unit, set)) = header.trim().split_once('=') else {
        return RangeOutcome::Unsatisfiable;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return if unit.trim().bytes().all(|b| b.is_ascii_alphanumeric()) && !unit.trim().is_empty()
        {
            RangeOutcome::Full
        } else {
            RangeOutcome::Unsatisfiable
        };
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match specs.as_slice() {
        [] => RangeOutcome::Unsatisfiable,
        [one] => single(one, len),
        // Several ranges: every one must be well formed, then the whole object is sent.
        many => {
            if many.iter().all(|s| parse_spec(s).is_some()) {
                RangeOutcome::Full
            } else {
                RangeOutcome::Unsatisfiable
            }
        }
    }
}

/// A syntactically valid range spec: (first, last) for `a-b` / `a-`, or the suffix length.
enum Spec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits beyond u64 mean "more than any object": saturate.
    Some(text.parse().unwrap_or(u64::MAX))
}

fn parse_spec(spec: &str) -> Option<Spec> {
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return number(last).map(Spec::Suffix);
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::FromTo(first, None));
    }
    let last = number(last)?;
    (last >= first).then_some(Spec::FromTo(first, Some(last)))
}

fn single(spec: &str, len: u64) -> RangeOutcome {
    match parse_spec(spec) {
        None => RangeOutcome::Unsatisfiable,
        Some(_) if len == 0 => RangeOutcome::Unsatisfiable,
        Some(Spec::Suffix(0)) => RangeOutcome::Unsatisfiable,
        Some(Spec::Suffix(n)) => RangeOutcome::Partial {
            start: len.saturating_sub(n),
            end: len - 1,
        },
        Some(Spec::FromTo(first, _)) if first >= len => RangeOutcome::Unsatisfiable,
        Some(Spec::FromTo(first, last)) => RangeOutcome::Partial {
            start: first,
            end: last.map_or(len - 1, |l| l.min(len - 1)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeOutcome::{Full, Partial, Unsatisfiable};
    use proptest::prelude::*;

    /// The cases nginx's and Varnish's range tests check, on a 1000-byte object.
    #[test]
    fn the_range_matrix() {
        let cases: &[(Option<&str>, RangeOutcome)] = &[
            (None, Full),
            (Some("bytes=0-8"), Partial { start: 0, end: 8 }),
            (Some("bytes=0-0"), Partial { start: 0, end: 0 }),
            (
                Some("bytes=-10"),
                Partial {
                    start: 990,
                    end: 999,
                },
            ),
            (Some("bytes=-5000"), Partial { start: 0, end: 999 }),
            (
                Some("bytes=990-"),
                Partial {
                    start: 990,
                    end: 999,
                },
            ),
            (
                Some("bytes=990-5000"),
                Partial {
                    start: 990,
                    end: 999,
                },
            ),
            (
                Some("bytes=999-999"),
                Partial {
                    start: 999,
                    end: 999,
                },
            ),
            (Some("BYTES = 1-2 "), Partial { start: 1, end: 2 }),
            (Some("bytes=1000-"), Unsatisfiable),
            (Some("bytes=100000-"), Unsatisfiable),
            (Some("bytes=5-2"), Unsatisfiable),
            (Some("bytes=-0"), Unsatisfiable),
            (Some("bytes=alpha"), Unsatisfiable),
            (Some("bytes=1-x"), Unsatisfiable),
            (Some("bytes=--1"), Unsatisfiable),
            (Some("bytes="), Unsatisfiable),
            (Some("alpha"), Unsatisfiable),
            (Some("bytes=0-1,5-6"), Full),
            (Some("bytes=0-1, -5"), Full),
            (Some("bytes=0-1,x"), Unsatisfiable),
            (Some("items=0-1"), Full),
            (Some("bytes=99999999999999999999999-"), Unsatisfiable),
            (
                Some("bytes=0-99999999999999999999999"),
                Partial { start: 0, end: 999 },
            ),
        ];
        for (header, want) in cases {
            assert_eq!(parse(*header, 1000), *want, "{header:?}");
        }
        assert_eq!(parse(Some("bytes=0-8"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-1"), 0), Unsatisfiable);
        assert_eq!(parse(None, 0), Full);
    }

    #[test]
    fn content_range_values() {
        assert_eq!(
            Partial { start: 0, end: 8 }.content_range(100).as_deref(),
            Some("bytes 0-8/100")
        );
        assert_eq!(
            Unsatisfiable.content_range(100).as_deref(),
            Some("bytes */100")
        );
        assert_eq!(Full.content_range(100), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_inside_the_object(header in ".{0,40}", len in 0u64..5000) {
            if let Partial { start, end } = parse(Some(&header), len) {
                prop_assert!(start <= end && end < len);
            }
        }

        #[test]
        fn well_formed_ranges_are_served(a in 0u64..3000, b in 0u64..3000, len in 1u64..3000) {
            let (lo, hi) = (a.min(b), a.max(b));
            let got = parse(Some(&format!("bytes={lo}-{hi}")), len);
            if lo < len {
                prop_assert_eq!(got, Partial { start: lo, end: hi.min(len - 1) });
            } else {
                prop_assert_eq!(got, Unsatisfiable);
            }
        }
    }
}
