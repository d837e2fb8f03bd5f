//! Text in the residents' languages.
//!
//! A district's residents read Swedish, and many read Arabic, Somali, English
//! or another language better. Titles, descriptions, criteria and lessons are
//! [`LocalText`]: Swedish always, other languages when someone wrote them. A
//! text in Swedish alone is written as a plain JSON string, as texts always
//! were; one in several languages as an object by language tag.
//!
//! ```
//! use medborgarbudget::text::{Lang, LocalText};
//!
//! let title = LocalText::from("Utegym vid skolan")
//!     .with(Lang::new("ar")?, "صالة رياضية في الهواء الطلق")?
//!     .with(Lang::new("en")?, "Outdoor gym by the school")?;
//! assert_eq!(&*title, "Utegym vid skolan"); // derefs to the Swedish text
//! assert_eq!(title.get(&Lang::new("en")?), Some("Outdoor gym by the school"));
//! assert!(Lang::new("ar")?.is_right_to_left());
//! let json = serde_json::to_string(&title)?;
//! assert!(json.starts_with(r#"{"sv":"Utegym vid skolan""#));
//! assert_eq!(serde_json::from_str::<LocalText>(&json)?, title);
//! // Swedish alone is a plain string.
//! assert_eq!(serde_json::to_string(&LocalText::from("Bänkar"))?, r#""Bänkar""#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most languages one text may have besides Swedish.
pub const MAX_LANGUAGES: usize = 16;

/// A language tag: two or three lower-case letters (ISO 639: `sv`, `en`,
/// `ar`, `so`, `fi`, `ckb`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct Lang(String);

/// Why a text or a language tag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "code", content = "details", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TextError {
    /// A tag that is not two or three lower-case letters.
    #[error("{given:?} is not a language tag: use two or three lower-case letters (sv, en, ar)")]
    BadLang {
        /// What was given.
        given: String,
    },
    /// Swedish given as another language (it is the text itself).
    #[error("the Swedish text is the text itself; give other languages with their tags")]
    SwedishTwice,
    /// Too many languages.
    #[error("a text may have at most {MAX_LANGUAGES} languages besides Swedish")]
    TooManyLanguages,
    /// A language whose text is blank.
    #[error("the text in {lang} is blank")]
    Blank {
        /// The language.
        lang: Lang,
    },
}

/// Languages written right to left: Arabic, Persian, Dari, Pashto, Sorani,
/// Hebrew, Urdu, Yiddish, Dhivehi, Tigrinya's neighbours aside.
const RIGHT_TO_LEFT: [&str; 9] = ["ar", "fa", "prs", "ps", "ckb", "he", "ur", "yi", "dv"];

impl Lang {
    /// Swedish.
    pub fn swedish() -> Lang {
        Lang("sv".to_owned())
    }

    /// English.
    pub fn english() -> Lang {
        Lang("en".to_owned())
    }

    /// A language tag.
    ///
    /// # Errors
    /// [`TextError::BadLang`] unless two or three lower-case ASCII letters.
    pub fn new(tag: impl Into<String>) -> Result<Lang, TextError> {
        let tag = tag.into();
        if (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase()) {
            Ok(Lang(tag))
        } else {
            Err(TextError::BadLang { given: tag })
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the language is written right to left (Arabic, Persian,
    /// Hebrew, Urdu, …).
    pub fn is_right_to_left(&self) -> bool {
        RIGHT_TO_LEFT.contains(&self.0.as_str())
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Lang, D::Error> {
        Lang::new(String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// Text in Swedish and, optionally, other languages. It dereferences to the
/// Swedish text, so it reads as a `&str` where one is expected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LocalText {
    sv: String,
    others: BTreeMap<Lang, String>,
}

impl LocalText {
    /// The text in `lang` besides the Swedish.
    ///
    /// # Errors
    /// Swedish given again, a blank text, or more than [`MAX_LANGUAGES`].
    pub fn with(mut self, lang: Lang, text: impl Into<String>) -> Result<LocalText, TextError> {
        let text = text.into();
        if lang.as_str() == "sv" {
            return Err(TextError::SwedishTwice);
        }
        if text.trim().is_empty() {
            return Err(TextError::Blank { lang });
        }
        if !self.others.contains_key(&lang) && self.others.len() >= MAX_LANGUAGES {
            return Err(TextError::TooManyLanguages);
        }
        self.others.insert(lang, text);
        Ok(self)
    }

    /// The Swedish text.
    pub fn swedish(&self) -> &str {
        &self.sv
    }

    /// The text in `lang`, if written (Swedish always is).
    pub fn get(&self, lang: &Lang) -> Option<&str> {
        if lang.as_str() == "sv" {
            Some(&self.sv)
        } else {
            self.others.get(lang).map(String::as_str)
        }
    }

    /// The text in `lang`, or the Swedish one if it has none.
    pub fn in_or_swedish(&self, lang: &Lang) -> &str {
        self.get(lang).unwrap_or(&self.sv)
    }

    /// The languages other than Swedish, with their texts, by tag.
    pub fn others(&self) -> impl Iterator<Item = (&Lang, &str)> {
        self.others.iter().map(|(l, t)| (l, t.as_str()))
    }
}

impl Deref for LocalText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.sv
    }
}

impl fmt::Display for LocalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sv)
    }
}

impl From<String> for LocalText {
    /// Swedish text.
    fn from(sv: String) -> LocalText {
        LocalText {
            sv,
            others: BTreeMap::new(),
        }
    }
}

impl From<&str> for LocalText {
    /// Swedish text.
    fn from(sv: &str) -> LocalText {
        LocalText::from(sv.to_owned())
    }
}

impl PartialEq<str> for LocalText {
    fn eq(&self, other: &str) -> bool {
        self.sv == other
    }
}

impl PartialEq<String> for LocalText {
    fn eq(&self, other: &String) -> bool {
        &self.sv == other
    }
}

impl PartialEq<&str> for LocalText {
    fn eq(&self, other: &&str) -> bool {
        self.sv == *other
    }
}

impl Serialize for LocalText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.others.is_empty() {
            return s.serialize_str(&self.sv);
        }
        let mut map = s.serialize_map(Some(self.others.len() + 1))?;
        map.serialize_entry("sv", &self.sv)?;
        for (lang, text) in &self.others {
            map.serialize_entry(lang, text)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for LocalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LocalText, D::Error> {
        struct Texts;
        impl<'de> Visitor<'de> for Texts {
            type Value = LocalText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a text in Swedish, or an object of texts by language tag with \"sv\" among them",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LocalText, E> {
                Ok(LocalText::from(v))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<LocalText, E> {
                Ok(LocalText::from(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LocalText, A::Error> {
                let mut sv = None;
                let mut others = BTreeMap::new();
                while let Some(tag) = map.next_key::<String>()? {
                    let text: String = map.next_value()?;
                    if tag == "sv" {
                        if sv.replace(text).is_some() {
                            return Err(de::Error::duplicate_field("sv"));
                        }
                        continue;
                    }
                    let lang = Lang::new(tag).map_err(de::Error::custom)?;
                    if text.trim().is_empty() {
                        return Err(de::Error::custom(TextError::Blank { lang }));
                    }
                    if others.insert(lang.clone(), text).is_some() {
                        return Err(de::Error::custom(format!("language {lang} appears twice")));
                    }
                    if others.len() > MAX_LANGUAGES {
                        return Err(de::Error::custom(TextError::TooManyLanguages));
                    }
                }
                let sv = sv.ok_or_else(|| de::Error::missing_field("sv"))?;
                Ok(LocalText { sv, others })
            }
        }
        d.deserialize_any(Texts)
    }
}

#[cfg(feature = "schema")]
schema_by_hand!(LocalText, "LocalText", {
    "description": "Text in Swedish, alone as a string, or as an object of texts by language tag in which \"sv\" is required",
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"sv": {"type": "string"}},
            "required": ["sv"],
            "additionalProperties": {"type": "string"}
        }
    ]
});

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn texts_read_as_strings_or_objects_and_refuse_what_is_wrong() {
        let plain: LocalText = serde_json::from_str(r#""Bänkar""#).unwrap();
        assert_eq!(plain, LocalText::from("Bänkar"));
        let many: LocalText =
            serde_json::from_str(r#"{"sv":"Bänkar","so":"Kuraas","ar":"مقاعد"}"#).unwrap();
        assert_eq!(many.get(&Lang::new("so").unwrap()), Some("Kuraas"));
        assert_eq!(many.in_or_swedish(&Lang::english()), "Bänkar");
        // Written back in tag order, Swedish first.
        assert_eq!(
            serde_json::to_string(&many).unwrap(),
            r#"{"sv":"Bänkar","ar":"مقاعد","so":"Kuraas"}"#
        );
        for bad in [
            r#"{"ar":"مقاعد"}"#,
            r#"{"sv":"a","EN":"b"}"#,
            r#"{"sv":"a","en":" "}"#,
            r#"{"sv":"a","sv":"b"}"#,
            "17",
        ] {
            let error = serde_json::from_str::<LocalText>(bad)
                .unwrap_err()
                .to_string();
            assert!(!error.is_empty(), "{bad}");
        }
        let error = serde_json::from_str::<LocalText>(r#"{"en":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("sv"), "{error}");
        assert_eq!(
            LocalText::from("a").with(Lang::swedish(), "b"),
            Err(TextError::SwedishTwice)
        );
        let mut text = LocalText::from("a");
        for tag in [
            "aa", "ab", "ac", "ad", "ae", "af", "ag", "ah", "ai", "aj", "ak", "al", "am", "an",
            "ao", "ap",
        ] {
            text = text.with(Lang::new(tag).unwrap(), "x").unwrap();
        }
        assert_eq!(
            text.with(Lang::new("aq").unwrap(), "x"),
            Err(TextError::TooManyLanguages)
        );
        assert!(Lang::new("ar").unwrap().is_right_to_left());
        assert!(!Lang::new("so").unwrap().is_right_to_left());
        assert!(Lang::new("s").is_err() && Lang::new("sven").is_err());
    }
}
