//! Shallow documents: a top-level object of scalars and objects of scalars, borrowed from the
//! text it was parsed from.
//!
//! Nearly every tool call a model writes is `{"tool": NAME, "args": {...}}` or the flat
//! `{"tool": NAME, ...}` with string arguments. Building a [`serde_json::Value`] for such a
//! call allocates every key and every string and then tears them down again, which costs more
//! than reading the call. [`json::parse_shallow`](super::json::parse_shallow) reads that shape
//! without building a tree of owned values, and [`ShallowJson`] lets a compiled JSON Schema
//! validate it in place.
//!
//! This is an accelerated path, not a second parser: the shallow reader runs the strict
//! parser's own steps (strings, numbers, literals, separators) and gives up on anything else —
//! an array, a deeper object, an error of any kind — so that the general path takes the input
//! and reports exactly what it always reports. A value read here equals the one the general
//! path builds (see [`Shallow::to_value`]); the tests and the `screen_action` fuzz target hold
//! the two paths to that.

use std::borrow::Cow;

use jsonschema::json::{Array, Json, Node, NodeIdentity, Object};
use jsonschema::types::JsonType;
use serde_json::{Map, Number, Value};

/// One value of a shallow document. Objects nest at most one level below the top.
#[derive(Debug, Clone, PartialEq)]
pub enum Shallow<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, in the range the strict parser accepts.
    Number(Number),
    /// A string, borrowed when it holds no escape.
    String(Cow<'a, str>),
    /// An object's members in document order; keys are unique.
    Object(Vec<(Cow<'a, str>, Shallow<'a>)>),
}

impl Shallow<'_> {
    /// The same value as a [`Value`] (what the general parser builds for the same text).
    pub fn to_value(&self) -> Value {
        match self {
            Shallow::Null => Value::Null,
            Shallow::Bool(b) => Value::Bool(*b),
            Shallow::Number(n) => Value::Number(n.clone()),
            Shallow::String(s) => Value::String(s.clone().into_owned()),
            Shallow::Object(members) => Value::Object(object_to_map(members)),
        }
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Shallow::String(s) => Some(s),
            _ => None,
        }
    }
}

/// The members of a shallow document's top level, as the reader returns them: a tool call has
/// two or three, held inline.
pub type ShallowMembers<'a> = smallvec::SmallVec<[(Cow<'a, str>, Shallow<'a>); 4]>;

/// A list the shallow reader appends an object's members to: the top level's inline list or
/// the argument object's `Vec`.
pub(crate) trait MemberList<'a>:
    std::ops::Deref<Target = [(Cow<'a, str>, Shallow<'a>)]>
{
    /// Appends one member.
    fn push_member(&mut self, member: (Cow<'a, str>, Shallow<'a>));
}

impl<'a> MemberList<'a> for Vec<(Cow<'a, str>, Shallow<'a>)> {
    fn push_member(&mut self, member: (Cow<'a, str>, Shallow<'a>)) {
        self.push(member);
    }
}

impl<'a> MemberList<'a> for ShallowMembers<'a> {
    fn push_member(&mut self, member: (Cow<'a, str>, Shallow<'a>)) {
        self.push(member);
    }
}

/// An object's members as a [`Map`].
pub fn object_to_map(members: &[(Cow<'_, str>, Shallow<'_>)]) -> Map<String, Value> {
    members
        .iter()
        .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
        .collect()
}

/// The JSON representation of [`Shallow`] documents for `jsonschema`.
#[derive(Debug, Clone, Copy)]
pub struct ShallowJson;

impl Json for ShallowJson {
    type Node<'a> = &'a Shallow<'a>;
    type PreparedKey = String;
    type StringBuffer = ();

    // Objects are short member lists: a pass over them is as cheap as a few lookups.
    const KEYS_PER_LOOKUP: usize = 4;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(Self::Node<'_>) -> T) -> T {
        f(&Shallow::String(Cow::Borrowed(string)))
    }
}

/// The members of a shallow object, as `jsonschema` walks them.
#[derive(Debug, Clone, Copy)]
pub struct ShallowObject<'a>(&'a [(Cow<'a, str>, Shallow<'a>)]);

/// A shallow document holds no arrays; this type only completes the representation.
#[derive(Debug, Clone, Copy)]
pub struct NoArray<'a>(&'a [Shallow<'a>]);

impl<'a> Node<'a, ShallowJson> for &'a Shallow<'a> {
    type Object = ShallowObject<'a>;
    type Array = NoArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<ShallowObject<'a>> {
        match self {
            Shallow::Object(members) => Some(ShallowObject(members)),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<NoArray<'a>> {
        None
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Shallow::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Shallow::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self {
            Shallow::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Shallow::Null)
    }

    fn json_type(&self) -> JsonType {
        match self {
            Shallow::Null => JsonType::Null,
            Shallow::Bool(_) => JsonType::Boolean,
            Shallow::Number(_) => JsonType::Number,
            Shallow::String(_) => JsonType::String,
            Shallow::Object(_) => JsonType::Object,
        }
    }

    fn string_length_within(&self, min: u64, max: u64) -> Option<bool> {
        let Shallow::String(s) = self else {
            return None;
        };
        // Between a quarter of the byte length (rounded up) and the byte length code points:
        // most bounds are decided without counting.
        let bytes = s.len() as u64;
        let fewest = bytes.div_ceil(4);
        if bytes < min || fewest > max {
            return Some(false);
        }
        if min <= fewest && bytes <= max {
            return Some(true);
        }
        Some((min..=max).contains(&(s.chars().count() as u64)))
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Shallow::to_value(self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Shallow<'_>>(*self) as usize
        ))
    }
}

impl<'a> Object<'a, ShallowJson> for ShallowObject<'a> {
    type Node = &'a Shallow<'a>;
    type MemberName = &'a str;
    type MembersIter = std::iter::Map<
        std::slice::Iter<'a, (Cow<'a, str>, Shallow<'a>)>,
        fn(&'a (Cow<'a, str>, Shallow<'a>)) -> (&'a str, &'a Shallow<'a>),
    >;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<&'a Shallow<'a>> {
        self.0
            .iter()
            .find(|(name, _)| name.as_ref() == key.as_str())
            .map(|(_, value)| value)
    }

    fn members(&self) -> Self::MembersIter {
        self.0.iter().map(|(name, value)| (name.as_ref(), value))
    }
}

impl<'a> Array<'a, ShallowJson> for NoArray<'a> {
    type Node = &'a Shallow<'a>;
    type ElementsIter = std::slice::Iter<'a, Shallow<'a>>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn elements(&self) -> Self::ElementsIter {
        self.0.iter()
    }
}
