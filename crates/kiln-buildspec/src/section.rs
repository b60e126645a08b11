//! Buildspec sections (mappings with a fixed set of keys) read as CodeBuild evidently reads
//! them (docs/buildspec.md): a key written in another case (`Commands`) is applied, an unknown
//! key is ignored, and both are noted as warnings with their position. A key given twice is an
//! error. Declared with [`section!`].

use serde_saphyr::Spanned;

use crate::error::{BuildspecError, Position};
use crate::values::{Text, truncate};
use crate::warning::Warning;

/// A known key present in a section.
#[derive(Debug)]
struct Present {
    key: &'static str,
    at: Option<Position>,
    /// Written with no value (`commands:`), read as absent.
    null: bool,
}

/// What reading one section noted besides its values.
#[derive(Debug, Default)]
pub(crate) struct SectionNotes {
    present: Vec<Present>,
    pub(crate) warnings: Vec<Warning>,
    /// The first key given twice.
    pub(crate) duplicate: Option<BuildspecError>,
}

impl SectionNotes {
    /// Which of `known` the written key names, noting a warning for another case or an
    /// unknown key, and an error for a repeated one. `None`: skip the value.
    pub(crate) fn admit(
        &mut self,
        known: &[&'static str],
        written: &Spanned<Text>,
    ) -> Option<&'static str> {
        let text = written.value.0.as_str();
        let shown = truncate(text);
        let at = Position::from_location(written.referenced);
        let key = match known.iter().find(|k| **k == text) {
            Some(key) => *key,
            None => match known.iter().find(|k| k.eq_ignore_ascii_case(text)) {
                Some(key) => {
                    self.warnings.push(Warning::new(
                        format!("key `{shown}` is read as `{key}`"),
                        at,
                    ));
                    *key
                }
                None => {
                    self.warnings.push(Warning::new(
                        format!(
                            "unknown key `{shown}` is ignored (known here: {})",
                            known.join(", ")
                        ),
                        at,
                    ));
                    return None;
                }
            },
        };
        if self.present.iter().any(|p| p.key == key) {
            self.duplicate
                .get_or_insert_with(|| BuildspecError::new(format!("duplicate key `{key}`"), at));
            return None;
        }
        self.present.push(Present {
            key,
            at,
            null: false,
        });
        Some(key)
    }

    /// Records that the key admitted last had no value.
    pub(crate) fn last_was_null(&mut self) {
        if let Some(last) = self.present.last_mut() {
            last.null = true;
        }
    }

    /// Where `key` is written, if present.
    pub(crate) fn at(&self, key: &str) -> Option<Position> {
        self.present
            .iter()
            .find(|p| p.key == key)
            .and_then(|p| p.at)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.present.iter().any(|p| p.key == key)
    }

    /// Whether `key` is present with no value.
    pub(crate) fn is_null(&self, key: &str) -> bool {
        self.present.iter().any(|p| p.key == key && p.null)
    }

    /// The known keys present, in document order, with their positions.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (&'static str, Option<Position>)> + '_ {
        self.present.iter().map(|p| (p.key, p.at))
    }

    /// Moves the warnings out, or fails with the first duplicate key.
    pub(crate) fn finish(&mut self, warnings: &mut Vec<Warning>) -> Result<(), BuildspecError> {
        if let Some(duplicate) = self.duplicate.take() {
            return Err(duplicate);
        }
        warnings.append(&mut self.warnings);
        Ok(())
    }
}

/// Declares a section: `struct Name { "key" => field: Type, … } required ["key", …]`.
/// Every field is an `Option` (a key with no value reads as absent, noted in `notes`);
/// a required key must be written (a missing one fails as serde's "missing field").
macro_rules! section {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* $key:literal => $field:ident : $ty:ty, )*
        }
        required [$($required:literal),*]
    ) => {
        $(#[$meta])*
        pub(crate) struct $name {
            $( $(#[$field_meta])* pub(crate) $field: Option<$ty>, )*
            pub(crate) notes: $crate::section::SectionNotes,
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                const KEYS: &[&str] = &[$($key),*];
                struct SectionVisitor;
                impl<'de> ::serde::de::Visitor<'de> for SectionVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a mapping of ", $($key, " "),*))
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$name, A::Error> {
                        let mut section = $name {
                            $( $field: None, )*
                            notes: $crate::section::SectionNotes::default(),
                        };
                        while let Some(written) =
                            map.next_key::<::serde_saphyr::Spanned<$crate::values::Text>>()?
                        {
                            match section.notes.admit(KEYS, &written) {
                                $(
                                    Some($key) => {
                                        section.$field = map.next_value::<Option<$ty>>()?;
                                        if section.$field.is_none() {
                                            section.notes.last_was_null();
                                        }
                                    }
                                )*
                                _ => {
                                    map.next_value::<::serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        $(
                            if !section.notes.has($required) {
                                return Err(::serde::de::Error::missing_field($required));
                            }
                        )*
                        Ok(section)
                    }
                }
                deserializer.deserialize_struct(stringify!($name), KEYS, SectionVisitor)
            }
        }
    };
}

pub(crate) use section;
