//! Attribute values as a run holds them. A 100,000-user run holds every entry twice (desired
//! and observed), each with about ten attributes of mostly one value. As B-tree sets and maps
//! that is a tree node per attribute, over 300 bytes for one short string, and it was most of
//! the run's memory; sorted vectors keep the same set semantics in a fraction of it.

use serde::Serialize;

/// An attribute's values: a set, since directories do not order them. Kept sorted and free of
/// duplicates, so two sets are equal exactly when their vectors are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Values(Vec<String>);

impl Values {
    /// No value: on a desired entry, "the attribute must not be there".
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The values in order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    /// The first value in order, for attributes that hold one.
    pub fn first(&self) -> Option<&String> {
        self.0.first()
    }

    /// Whether there is no value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `value` is one of them (exactly; callers fold case where the schema does).
    pub fn contains(&self, value: &str) -> bool {
        self.0.binary_search_by(|v| v.as_str().cmp(value)).is_ok()
    }
}

impl FromIterator<String> for Values {
    fn from_iter<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort_unstable();
        values.dedup();
        values.shrink_to_fit();
        Self(values)
    }
}

impl<const N: usize> From<[String; N]> for Values {
    fn from(values: [String; N]) -> Self {
        values.into_iter().collect()
    }
}

impl From<Option<String>> for Values {
    fn from(value: Option<String>) -> Self {
        value.into_iter().collect()
    }
}

impl IntoIterator for Values {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Values {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Attribute name → values, ordered by name. Inserting a name again replaces its values, as a
/// map would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes(Vec<(String, Values)>);

impl Attributes {
    /// No attribute.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }

    /// The values of `name`, if the attribute is there.
    pub fn get(&self, name: &str) -> Option<&Values> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// Sets `name` to `values`, replacing what it had.
    pub fn insert(&mut self, name: String, values: Values) {
        match self.position(&name) {
            Ok(i) => self.0[i].1 = values,
            Err(i) => {
                // One more, not double: a run keeps millions of these vectors.
                self.0.reserve_exact(1);
                self.0.insert(i, (name, values));
            }
        }
    }

    /// Takes `name` out, if it is there.
    pub fn remove(&mut self, name: &str) -> Option<Values> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    /// The attributes in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Values)> {
        self.0.iter().map(|(name, values)| (name, values))
    }

    /// The attribute names in order.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(name, _)| name)
    }

    /// Whether there is no attribute.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl FromIterator<(String, Values)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (String, Values)>>(attributes: I) -> Self {
        let mut items: Vec<(String, Values)> = attributes.into_iter().collect();
        // Stable, so of two equal names the later stays later, and wins as a second insert
        // would.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut collected: Vec<(String, Values)> = Vec::with_capacity(items.len());
        for item in items {
            match collected.last_mut() {
                Some(last) if last.0 == item.0 => *last = item,
                _ => collected.push(item),
            }
        }
        collected.shrink_to_fit();
        Self(collected)
    }
}

impl IntoIterator for Attributes {
    type Item = (String, Values);
    type IntoIter = std::vec::IntoIter<(String, Values)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<const N: usize> From<[(String, Values); N]> for Attributes {
    fn from(attributes: [(String, Values); N]) -> Self {
        attributes.into_iter().collect()
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(items: &[&str]) -> Values {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn values_are_a_set_whatever_order_and_repeats_they_arrive_in() {
        assert_eq!(values(&["b", "a", "b"]), values(&["a", "b"]));
        assert_eq!(values(&["b", "a", "b"]).len(), 2);
        assert!(values(&["b", "a"]).contains("a"));
        assert!(!values(&["b", "a"]).contains("c"));
        assert_eq!(values(&["b", "a"]).first().map(String::as_str), Some("a"));
    }

    #[test]
    fn inserting_an_attribute_again_replaces_its_values_and_keeps_names_ordered() {
        let mut attributes = Attributes::from([
            ("sn".to_owned(), values(&["Doe"])),
            ("cn".to_owned(), values(&["Jo"])),
        ]);
        attributes.insert("sn".to_owned(), values(&["Roe"]));
        attributes.insert("mail".to_owned(), Values::new());
        let repeated = Attributes::from([
            ("cn".to_owned(), values(&["first"])),
            ("cn".to_owned(), values(&["second"])),
        ]);
        assert_eq!(repeated.get("cn"), Some(&values(&["second"])));
        assert_eq!(repeated.len(), 1);
        let names: Vec<&str> = attributes.names().map(String::as_str).collect();
        assert_eq!(names, ["cn", "mail", "sn"]);
        assert_eq!(attributes.get("sn"), Some(&values(&["Roe"])));
        assert_eq!(attributes.get("uid"), None);
        assert_eq!(attributes.len(), 3);
    }

    #[test]
    fn attributes_serialize_as_a_map_in_name_order() {
        let attributes = Attributes::from([
            ("sn".to_owned(), values(&["Doe"])),
            ("cn".to_owned(), values(&["Jo", "Al"])),
        ]);
        let json = serde_json::to_string(&attributes).unwrap_or_default();
        assert_eq!(json, r#"{"cn":["Al","Jo"],"sn":["Doe"]}"#);
    }
}
