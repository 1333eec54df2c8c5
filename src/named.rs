//! Enums known by their schema names, below every layer that has enums
//! (auth's permissions, the domain's values).

/// An enum known by its schema names: `as_str` is a value's name (what the
/// schema shows, JSON the service writes carries, and, for a `text_enum`
/// (`domain::values`),
/// the database stores), and its doc comments are the schema's descriptions.
/// Neither the domain nor auth knows GraphQL: `graphql/enums.rs` puts these
/// in the schema.
/// Names are written out, so `FILE_HASH_MD5` is not derived as `FILE_HASH_MD_5`.
macro_rules! named_enum {
    (@define [$($extra:tt)*] $(#[doc = $doc:literal])* pub enum $name:ident {
        $($(#[doc = $vdoc:literal])* $variant:ident => $text:literal,)+
    }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $($extra)*
        pub enum $name { $($(#[doc = $vdoc])* $variant,)+ }

        /// Written as its schema name.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        /// Read from its schema name (stored JSON documents, cursors); another name fails.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                $name::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {} {text:?}", stringify!($name)))
                })
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The lines of the type's doc comment (the schema's description).
            pub const DOC: &'static [&'static str] = &[$($doc),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The lines of the value's doc comment (the schema's description).
            pub fn doc(self) -> &'static [&'static str] {
                match self { $($name::$variant => &[$($vdoc),*],)+ }
            }

            /// As a person reads it: `IN_PROGRESS` is "In progress".
            pub fn label(self) -> String {
                let text = self.as_str().replace('_', " ").to_lowercase();
                let mut chars = text.chars();
                chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
            }

            pub fn from_db(value: &str) -> $crate::error::AppResult<Self> {
                match value {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::error::AppError::internal(format!(
                        "unknown {} {other:?} in the database", stringify!($name)
                    ))),
                }
            }
        }
    };
    ($(#[doc = $doc:literal])* pub enum $name:ident { $($body:tt)+ }) => {
        $crate::named::named_enum! { @define [] $(#[doc = $doc])* pub enum $name { $($body)+ } }
    };
}
pub(crate) use named_enum;
