//! Words for lists in evidence and log lines.

/// `a, b, c and 12 more`: at most `shown` items, then how many more, so a long list
/// keeps a line readable.
pub fn listed<S: AsRef<str>>(items: &[S], shown: usize) -> String {
    let join = |xs: &[S]| {
        xs.iter()
            .map(AsRef::as_ref)
            .collect::<Vec<&str>>()
            .join(", ")
    };
    if items.len() <= shown {
        join(items)
    } else {
        format!("{} and {} more", join(&items[..shown]), items.len() - shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_names_the_first_and_counts_the_rest() {
        assert_eq!(listed(&["a", "b"], 2), "a, b");
        assert_eq!(listed(&["a", "b", "c", "d"], 2), "a, b and 2 more");
        assert_eq!(listed::<String>(&[], 2), "");
    }
}
