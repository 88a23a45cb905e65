//! A mainland China mobile number.
//!
//! The canonical form is exactly 11 ASCII digits, the first `1` and the second `3`–`9`
//! (`19900000563`). [`Phone::parse`] accepts what people actually type or paste: surrounding
//! whitespace, spaces or dashes inside (`199 0000 0563`, `199-0000-0563`), a country prefix
//! (`+86`, `86`, `0086`) and full-width digits (`１９９…`) from Chinese input methods.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A validated mainland China mobile number, stored as 11 ASCII digits.
///
/// Serialises as a plain string (`"19900000563"`); deserialising validates through
/// [`Phone::parse`], so an invalid number in stored data is an error, not a silent `Phone`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Why a text is not a [`Phone`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing but whitespace (or separators) was given.
    #[error("phone number is empty")]
    Empty,
    /// Something was given, but it is not an 11-digit mainland mobile number.
    #[error("malformed phone number")]
    Malformed,
}

impl Phone {
    /// Parses and normalises a mainland China mobile number.
    ///
    /// ```
    /// use gridline_shared::domain::phone::Phone;
    /// assert_eq!(Phone::parse(" +86 199-0000-0563 ").unwrap().as_str(), "19900000563");
    /// ```
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let mut compact = String::with_capacity(input.len());
        for c in input.chars() {
            let c = fold_full_width(c);
            if is_separator(c) {
                continue;
            }
            compact.push(c);
        }
        if compact.is_empty() {
            return Err(PhoneError::Empty);
        }
        let digits = if let Some(rest) = compact.strip_prefix("+86") {
            rest
        } else if compact.len() == 15 && compact.starts_with("0086") {
            &compact[4..]
        } else if compact.len() == 13 && compact.starts_with("86") {
            &compact[2..]
        } else {
            compact.as_str()
        };
        let bytes = digits.as_bytes();
        let valid = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        if valid {
            Ok(Phone(digits.to_owned()))
        } else {
            Err(PhoneError::Malformed)
        }
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle four digits hidden, for exports: `199****0563`.
    pub fn masked(&self) -> String {
        // Always 11 ASCII digits, so byte slicing is safe.
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

/// Full-width ASCII forms (U+FF01..U+FF5E, e.g. `０`–`９`, `＋`, `－`) and the ideographic space
/// become their ASCII counterparts.
fn fold_full_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Characters people put between digit groups, plus invisible ones pasted from chat apps.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}'..='\u{2015}' // hyphens and dashes
                | '\u{200B}'..='\u{200D}' // zero-width space / (non-)joiner
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Phone {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for Phone {
    type Err = PhoneError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::parse(s)
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl<'de> Deserialize<'de> for Phone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Phone::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Phone::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn plain_number() {
        assert_eq!(ok("19900000563"), "19900000563");
        assert_eq!(ok("13800138000"), "13800138000");
    }

    #[test]
    fn trims_and_strips_separators() {
        assert_eq!(ok("  19900000563 \r\n"), "19900000563");
        assert_eq!(ok("199 0000 0563"), "19900000563");
        assert_eq!(ok("199-0000-0563"), "19900000563");
        assert_eq!(ok("\u{200B}199\u{FEFF}00000563"), "19900000563");
        assert_eq!(ok("199\u{3000}0000\u{3000}0563"), "19900000563");
        assert_eq!(ok("199–0000—0563"), "19900000563");
    }

    #[test]
    fn country_prefixes() {
        assert_eq!(ok("+8619900000563"), "19900000563");
        assert_eq!(ok("+86 199 0000 0563"), "19900000563");
        assert_eq!(ok("8619900000563"), "19900000563");
        assert_eq!(ok("0086 19900000563"), "19900000563");
        assert_eq!(ok("＋８６ １９９００００05６３"), "19900000563");
    }

    #[test]
    fn full_width_digits() {
        assert_eq!(ok("１９９０００００５６３"), "19900000563");
        assert_eq!(ok("１９９－００００－０５６３"), "19900000563");
    }

    #[test]
    fn empty() {
        assert_eq!(Phone::parse(""), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("   \t"), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("\u{3000}"), Err(PhoneError::Empty));
        assert_eq!(Phone::parse(" - "), Err(PhoneError::Empty));
    }

    #[test]
    fn malformed() {
        for bad in [
            "12345",
            "1990000056",     // 10 digits
            "199000005631",   // 12 digits
            "29900000563",    // does not start with 1
            "12900000563",    // second digit 2
            "10900000563",    // second digit 0
            "1990000056x",    // letter
            "+8512345678901", // other country
            "+86",
            "86",
            "028-12345678", // landline
            "1.99000006E+10",
            "19900000563.0",
            "١٩٩٠٠٠٠٠٥٦٣", // Arabic-Indic digits are not accepted
            "8619900000563 1",
        ] {
            assert_eq!(Phone::parse(bad), Err(PhoneError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn eighty_six_is_only_a_prefix_when_lengths_fit() {
        // 11 digits beginning with 86 is not a mobile number and is not stripped.
        assert_eq!(Phone::parse("86123456789"), Err(PhoneError::Malformed));
        // 13 digits beginning with 86 whose rest is not a mobile number.
        assert_eq!(Phone::parse("8612345678901"), Err(PhoneError::Malformed));
    }

    #[test]
    fn display_masked_as_str() {
        let p = Phone::parse("199 0000 0563").unwrap();
        assert_eq!(p.to_string(), "19900000563");
        assert_eq!(p.as_str(), "19900000563");
        assert_eq!(p.masked(), "199****0563");
        assert_eq!(String::from(p.clone()), "19900000563");
        assert_eq!("19900000563".parse::<Phone>().unwrap(), p);
        assert_eq!(Phone::try_from("+8619900000563".to_owned()).unwrap(), p);
    }

    #[test]
    fn serde_is_a_plain_string_and_validates() {
        let p = Phone::parse("19900000563").unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"19900000563\"");
        let back: Phone = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let normalised: Phone = serde_json::from_str("\"+86 199-0000-0563\"").unwrap();
        assert_eq!(normalised, p);
        assert!(serde_json::from_str::<Phone>("\"12345\"").is_err());
    }

    #[test]
    fn ordering_and_hash_follow_digits() {
        let a = Phone::parse("13800138000").unwrap();
        let b = Phone::parse("19900000563").unwrap();
        assert!(a < b);
        let set: std::collections::HashSet<_> = [b.clone(), Phone::parse("199-0000-0563").unwrap()]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
    }
}
