//! `components:`: names, dependencies, replica limits and cycles.

use super::*;

#[test]
fn duplicate_component_names_point_at_the_second() {
    let text = VALID.replace("  - name: db\n", "  - name: db\n  - name: api\n");
    let e = one(&text, "duplicate component `api`");
    assert_eq!((e.file.as_str(), e.line, e.column), ("shop.yaml", 11, 11));
    assert_eq!(e.path, "components[3].name");
    assert!(
        e.to_string()
            .starts_with("shop.yaml:11:11: components[3].name: duplicate"),
        "{e}"
    );
}

#[test]
fn unknown_dependency_is_located() {
    let text = VALID.replace("depends_on: [db]", "depends_on: [dbx]");
    let e = one(&text, "unknown component `dbx`");
    assert_eq!((e.line, e.column), (9, 18));
    assert_eq!(e.path, "components[1].depends_on[0]");
}

#[test]
fn dependency_cycles_are_errors() {
    let text = VALID.replace(
        "  - name: db\n",
        "  - name: db\n    depends_on: [frontend]\n",
    );
    let e = one(&text, "dependency cycle");
    assert!(
        e.message.contains("frontend -> api -> db -> frontend"),
        "{}",
        e.message
    );
    assert_eq!(e.line, 5);
}

#[test]
fn replicas_min_above_max_is_an_error() {
    let text = VALID.replace("{ min: 2, max: 10 }", "{ min: 12, max: 10 }");
    let e = one(&text, "min (12) is greater than max (10)");
    assert_eq!(e.path, "components[0].replicas");
    assert_eq!(e.line, 7);
}

#[test]
fn self_dependencies_unknown_actuators_and_empty_names_are_errors() {
    let text = VALID.replace(
        "  - name: db\n",
        "  - name: db\n    depends_on: [db]\n    actuator: ghost\n  - name: \"\"\n",
    );
    assert_eq!(
        located(&text),
        [
            "10:11: components[2].depends_on: dependency cycle: db -> db",
            "11:18: components[2].depends_on[0]: a component cannot depend on itself",
            "12:15: components[2].actuator: unknown actuator `ghost` (declare it under `actuators:`)",
            "13:11: components[3].name: must not be empty",
        ]
    );
}

#[test]
fn zones_and_nodes_compile_onto_components() {
    let text = VALID.replace(
        "  - name: db\n",
        "  - name: db\n    zone: b\n    node: host-1\n",
    );
    let (c, _) = parse_charter(&text, "shop.yaml", Path::new(".")).expect("valid");
    let db = c.component("db").expect("db");
    assert_eq!(db.zone.as_deref(), Some("b"));
    assert_eq!(db.node.as_deref(), Some("host-1"));
}

#[test]
fn an_empty_or_spaced_zone_or_node_is_located() {
    let text = VALID.replace("  - name: db\n", "  - name: db\n    zone: \"\"\n");
    let e = one(&text, "must not be empty");
    assert_eq!(e.path, "components[2].zone");
    assert_eq!((e.line, e.column), (11, 11));
    let text = VALID.replace("  - name: db\n", "  - name: db\n    node: \"rack 1:a\"\n");
    let e = one(&text, "must not contain `:` or spaces");
    assert_eq!(e.path, "components[2].node");
    assert_eq!(e.line, 11);
}

#[test]
fn a_component_named_like_a_zone_hypothesis_is_refused() {
    let text = VALID.replace(
        "  - name: db\n",
        "  - name: db\n    zone: b\n  - name: \"zone:b\"\n",
    );
    let e = one(&text, "common-cause hypothesis");
    assert_eq!(e.path, "components[3].name");
    assert!(e.message.starts_with("`zone:b` names"), "{}", e.message);
}
