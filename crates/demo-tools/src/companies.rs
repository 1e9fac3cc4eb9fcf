//! A small built-in company table, read by `lookup_company` to enrich a sales lead. The
//! lookup takes a domain or an email address, so a model can pass the sender as it is.

use schemars::JsonSchema;
use serde::Serialize;

/// One company as `lookup_company` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CompanyDetails {
    pub name: String,
    /// The company's domain, lowercase (`acme.test`).
    pub domain: String,
    pub industry: String,
    /// Approximate head count.
    pub employees: u32,
    /// ISO 3166-1 alpha-2 country code of the head office.
    pub country: String,
    /// The plan that suits the company best: "Starter", "Team" or "Enterprise".
    pub plan_fit: String,
    /// What sales already knows about the company.
    pub notes: String,
}

struct BuiltInCompany {
    name: &'static str,
    domain: &'static str,
    industry: &'static str,
    employees: u32,
    country: &'static str,
    plan_fit: &'static str,
    notes: &'static str,
}

const COMPANIES: &[BuiltInCompany] = &[
    BuiltInCompany {
        name: "Acme Corp",
        domain: "acme.test",
        industry: "Industrial automation",
        employees: 1200,
        country: "DE",
        plan_fit: "Enterprise",
        notes: "Existing evaluation of the Scheduler product in 2026",
    },
    BuiltInCompany {
        name: "Globex Corporation",
        domain: "globex.test",
        industry: "Energy trading",
        employees: 5400,
        country: "US",
        plan_fit: "Enterprise",
        notes: "Procurement requires a security review before any purchase",
    },
    BuiltInCompany {
        name: "Initech",
        domain: "initech.test",
        industry: "Banking software",
        employees: 180,
        country: "US",
        plan_fit: "Team",
        notes: "Two former customers work there; no open deals",
    },
    BuiltInCompany {
        name: "Umbrella Health",
        domain: "umbrella.test",
        industry: "Pharmaceuticals",
        employees: 35,
        country: "GB",
        plan_fit: "Starter",
        notes: "Asked about data residency in the UK at a 2025 trade fair",
    },
];

/// The domains of the built-in table, for error messages and tests.
pub fn known_domains() -> Vec<&'static str> {
    COMPANIES.iter().map(|company| company.domain).collect()
}

/// The domain `input` names: trimmed and lowercased; for an email address
/// (`ann@acme.test`, also `Ann <ann@acme.test>`) the part after the last '@'.
pub fn normalize_domain(input: &str) -> String {
    let text = input.trim();
    let domain = match text.rsplit_once('@') {
        Some((_, after)) => after.trim_end_matches('>'),
        None => text,
    };
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The company of a domain or an email address; an error naming the domain when the table
/// has none.
pub fn lookup_company(input: &str) -> Result<CompanyDetails, String> {
    let domain = normalize_domain(input);
    if domain.is_empty() {
        return Err(format!(
            "no domain in {input:?}: give a domain such as \"acme.test\" or an email address"
        ));
    }
    let company = COMPANIES
        .iter()
        .find(|company| company.domain == domain)
        .ok_or_else(|| {
            format!(
                "no company known for domain {domain:?} (known domains: {})",
                known_domains().join(", ")
            )
        })?;
    Ok(CompanyDetails {
        name: company.name.to_owned(),
        domain: company.domain.to_owned(),
        industry: company.industry.to_owned(),
        employees: company.employees,
        country: company.country.to_owned(),
        plan_fit: company.plan_fit.to_owned(),
        notes: company.notes.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_company_by_its_domain() {
        let acme = lookup_company("acme.test").unwrap();
        assert_eq!(
            acme,
            CompanyDetails {
                name: "Acme Corp".into(),
                domain: "acme.test".into(),
                industry: "Industrial automation".into(),
                employees: 1200,
                country: "DE".into(),
                plan_fit: "Enterprise".into(),
                notes: "Existing evaluation of the Scheduler product in 2026".into(),
            }
        );
        for domain in known_domains() {
            assert_eq!(lookup_company(domain).unwrap().domain, domain);
        }
        assert!(known_domains().len() >= 4);
    }

    #[test]
    fn takes_the_domain_of_an_email_address() {
        assert_eq!(lookup_company("ann@acme.test").unwrap().name, "Acme Corp");
        assert_eq!(
            lookup_company("Ann Example <ann@globex.test>")
                .unwrap()
                .name,
            "Globex Corporation"
        );
    }

    #[test]
    fn ignores_case_and_surrounding_space() {
        assert_eq!(
            lookup_company("  ACME.Test \n").unwrap().domain,
            "acme.test"
        );
        assert_eq!(
            lookup_company(" Ann@Initech.TEST ").unwrap().name,
            "Initech"
        );
        assert_eq!(
            lookup_company("umbrella.test.").unwrap().name,
            "Umbrella Health"
        );
    }

    #[test]
    fn unknown_domains_are_named_in_the_error() {
        let err = lookup_company("bob@Example.ORG").unwrap_err();
        assert!(err.contains("\"example.org\""), "{err}");
        assert!(err.contains("acme.test"), "{err}");
        let err = lookup_company("acme.test.evil").unwrap_err();
        assert!(err.contains("\"acme.test.evil\""), "{err}");
    }

    #[test]
    fn empty_input_is_an_error() {
        for input in ["", "   ", "ann@", "@"] {
            let err = lookup_company(input).unwrap_err();
            assert!(err.contains("no domain"), "{input:?}: {err}");
        }
    }
}
