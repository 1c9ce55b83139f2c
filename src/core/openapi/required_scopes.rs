//! The scopes a tool needs, parsed from the operation's `**Required scope:** X` line (the
//! reference product's convention). Authorization fails closed: an operation without a parseable
//! line needs `ALL`.
use crate::core::scopes::ScopeCatalog;

/// The scope that includes every other one; what an operation without a scope line needs.
pub const ALL: &str = "ALL";

/// At most this many alternatives in one requirement. Several `A or B` lines multiply (every
/// pairing must be tried), so a hostile document could make one tool cost millions of checks on
/// every call; past the bound the requirement is `ALL` (fail closed) and the catalog says why.
pub const MAX_ALTERNATIVES: usize = 32;

/// Why a stated requirement was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyAlternatives;

/// Any one of `alternatives` suffices; each alternative is a set of scopes that must all be held.
/// Never empty, and no alternative is empty: an empty requirement would let every token in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredScopes {
    alternatives: Vec<Vec<String>>,
}

impl RequiredScopes {
    /// What an operation that does not say what it needs requires: `ALL`.
    pub fn all_only() -> RequiredScopes {
        RequiredScopes { alternatives: vec![vec![ALL.to_string()]] }
    }

    /// `X` (all of `names`), for tests and callers that build requirements by hand.
    pub fn all_of<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Option<RequiredScopes> {
        let group: Vec<String> = names.into_iter().map(Into::into).collect();
        (!group.is_empty()).then(|| RequiredScopes { alternatives: vec![group] })
    }

    /// The requirement stated by the `**Required scope(s):**` lines of `description`, if any line
    /// names at least one scope. Several lines must all be met; more than `MAX_ALTERNATIVES`
    /// ways to meet them is an error.
    pub fn parse(description: &str) -> Result<Option<RequiredScopes>, TooManyAlternatives> {
        let mut combined: Option<RequiredScopes> = None;
        for line in description.lines().filter_map(parse_line) {
            let next = match &combined {
                None => line,
                Some(so_far) => so_far.and(&line)?,
            };
            if next.alternatives.len() > MAX_ALTERNATIVES {
                return Err(TooManyAlternatives);
            }
            combined = Some(next);
        }
        Ok(combined)
    }

    pub fn alternatives(&self) -> &[Vec<String>] {
        &self.alternatives
    }

    /// Every scope named, in order, without repeats.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in self.alternatives.iter().flatten() {
            if !out.contains(&name.as_str()) {
                out.push(name);
            }
        }
        out
    }

    /// The first alternative `held` meets: the scopes this call is made with.
    pub fn met_by(&self, held: &[String], scopes: &ScopeCatalog) -> Option<&[String]> {
        self.alternatives.iter().find(|group| missing(group, held, scopes).is_empty()).map(Vec::as_slice)
    }

    /// What `held` lacks, for the `Tool requires scopes: …` message: the missing scopes of the
    /// single alternative (`A, B`), or each alternative's missing scopes (`A or B and C`).
    pub fn describe_missing(&self, held: &[String], scopes: &ScopeCatalog) -> String {
        let per_group: Vec<Vec<&str>> = self.alternatives.iter().map(|g| missing(g, held, scopes)).collect();
        match per_group.as_slice() {
            [only] => only.join(", "),
            many => many.iter().map(|g| g.join(" and ")).collect::<Vec<_>>().join(" or "),
        }
    }

    /// Both requirements: every pairing of an alternative of each (refused before it is built
    /// when there would be more than `MAX_ALTERNATIVES`).
    fn and(&self, other: &RequiredScopes) -> Result<RequiredScopes, TooManyAlternatives> {
        if self.alternatives.len() * other.alternatives.len() > MAX_ALTERNATIVES {
            return Err(TooManyAlternatives);
        }
        let mut alternatives = Vec::new();
        for a in &self.alternatives {
            for b in &other.alternatives {
                let mut group = a.clone();
                group.extend(b.iter().filter(|s| !a.contains(s)).cloned());
                alternatives.push(group);
            }
        }
        Ok(RequiredScopes { alternatives })
    }
}

fn missing<'a>(group: &'a [String], held: &[String], scopes: &ScopeCatalog) -> Vec<&'a str> {
    group.iter().filter(|need| !held.iter().any(|h| scopes.implies(h, need))).map(String::as_str).collect()
}

/// The list right after the marker: scope tokens (`[A-Z][A-Z0-9_]*`, optionally in backticks)
/// separated by commas, whitespace or `and`, with `or` between alternatives. It ends at the first
/// word that is none of these, so `CONTACTS_READ (see the API docs)` and `CONTACTS_READ. Limit:
/// 100 RPM` both name only `CONTACTS_READ`.
fn parse_line(line: &str) -> Option<RequiredScopes> {
    let mut rest = after_marker(line)?;
    let mut alternatives: Vec<Vec<String>> = vec![Vec::new()];
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        let (quoted, body) = match rest.strip_prefix('`') {
            Some(inside) => (true, inside),
            None => (false, rest),
        };
        let len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
        let word = &body[..len];
        rest = match (quoted, body[len..].strip_prefix('`')) {
            (false, _) => &body[len..],
            (true, Some(after)) => after,
            (true, None) => break,
        };
        let connective = if quoted { None } else { Some(word.to_ascii_lowercase()) };
        match connective.as_deref() {
            Some("or") => alternatives.push(Vec::new()),
            Some("and") => {}
            _ if is_scope_name(word) => {
                let group = alternatives.last_mut().expect("alternatives starts non-empty and only grows");
                if !group.iter().any(|s| s == word) {
                    group.push(word.to_string());
                }
            }
            // Prose, punctuation or the end of the line: the list is over.
            _ => break,
        }
    }
    alternatives.retain(|g| !g.is_empty());
    (!alternatives.is_empty()).then_some(RequiredScopes { alternatives })
}

/// The text after `**Required scope:**`, `**Required scopes:**` or `**Required scope**:`.
fn after_marker(line: &str) -> Option<&str> {
    const MARKER: &str = "**required scope";
    let at = line.to_ascii_lowercase().find(MARKER)?;
    let rest = &line[at + MARKER.len()..];
    let rest = rest.strip_prefix('s').unwrap_or(rest);
    rest.strip_prefix(":**").or_else(|| rest.strip_prefix("**:"))
}

fn is_scope_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stated(description: &str) -> Option<RequiredScopes> {
        RequiredScopes::parse(description).expect("within MAX_ALTERNATIVES")
    }

    #[test]
    fn lines_whose_combinations_pass_the_bound_are_refused_before_they_are_built() {
        let line = "**Required scope:** A_READ or B_READ or C_READ or D_READ";
        let two = format!("{line}\n{line}");
        assert_eq!(stated(&two).unwrap().alternatives().len(), 16);
        let four = [line; 4].join("\n");
        assert_eq!(RequiredScopes::parse(&four), Err(TooManyAlternatives), "256 would be");
        let wide = format!("**Required scope:** {}", (0..40).map(|i| format!("S{i}_READ")).collect::<Vec<_>>().join(" or "));
        assert_eq!(RequiredScopes::parse(&wide), Err(TooManyAlternatives), "one line of 40");
        let hostile = [line; 40].join("\n");
        assert_eq!(RequiredScopes::parse(&hostile), Err(TooManyAlternatives), "4^40 is never built");
    }
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    fn parsed(description: &str) -> Option<Vec<Vec<String>>> {
        stated(description).map(|r| r.alternatives().to_vec())
    }

    fn groups(list: &[&[&str]]) -> Option<Vec<Vec<String>>> {
        Some(list.iter().map(|g| g.iter().map(|s| s.to_string()).collect()).collect())
    }

    #[test]
    fn the_list_ends_at_the_first_word_that_is_not_a_scope() {
        assert_eq!(parsed("All of them.\n\n**Required scope:** CONTACTS_READ"), groups(&[&["CONTACTS_READ"]]));
        assert_eq!(parsed("**Required scope:** `CONTACTS_READ` (see the API docs)"), groups(&[&["CONTACTS_READ"]]));
        assert_eq!(parsed("**Required scope:** CONTACTS_READ. Limit: 100 RPM"), groups(&[&["CONTACTS_READ"]]));
        assert_eq!(parsed("**Required scopes:** CONTACTS_WRITE, LISTS_WRITE"), groups(&[&["CONTACTS_WRITE", "LISTS_WRITE"]]));
        assert_eq!(parsed("**Required scope**: `A_READ` and `B_READ` — then prose"), groups(&[&["A_READ", "B_READ"]]));
    }

    #[test]
    fn or_means_any_of() {
        assert_eq!(parsed("**Required scope:** CONTACTS_READ or ALL"), groups(&[&["CONTACTS_READ"], &["ALL"]]));
        assert_eq!(parsed("**Required scope:** A_READ and B_READ or `ALL`."), groups(&[&["A_READ", "B_READ"], &["ALL"]]));
        let scopes = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let r = stated("**Required scope:** CONTACTS_WRITE or LISTS_WRITE").unwrap();
        let held = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(r.met_by(&held(&["LISTS_WRITE"]), &scopes), Some(&["LISTS_WRITE".to_string()][..]));
        assert_eq!(r.met_by(&held(&["CONTACTS_READ"]), &scopes), None);
        assert_eq!(r.describe_missing(&held(&["CONTACTS_READ"]), &scopes), "CONTACTS_WRITE or LISTS_WRITE");
        let both = stated("**Required scopes:** CONTACTS_READ, LISTS_READ").unwrap();
        assert_eq!(both.describe_missing(&held(&["CONTACTS_WRITE"]), &scopes), "LISTS_READ");
    }

    #[test]
    fn no_usable_line_is_no_requirement() {
        assert_eq!(parsed("Lists contacts. Needs CONTACTS_READ."), None);
        assert_eq!(parsed("**Required scope:** none"), None);
        assert_eq!(parsed("**Required scope:** `contacts.read`"), None);
        assert_eq!(RequiredScopes::all_only().names(), vec!["ALL"]);
    }

    #[test]
    fn several_lines_must_all_be_met() {
        let r = stated("**Required scope:** A_READ or ALL\n**Required scope:** B_READ").unwrap();
        assert_eq!(r.alternatives().to_vec(), groups(&[&["A_READ", "B_READ"], &["ALL", "B_READ"]]).unwrap());
    }
}
