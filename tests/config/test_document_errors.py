"""Problems with the file as a whole: YAML syntax, duplicate keys, tags, the root, `version`."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.config.loader import ConfigError, ConfigIssue, load_config, load_config_text
from tests.config.helpers import FILE, HEAD, assert_issue, at, issues_of, one_issue, yaml


def test_yaml_syntax_error_has_its_position():
    text = "version: 1\ndomains:\n  - name: go.localhost\n   bad: [\n"
    issue = one_issue(text)
    assert issue.field == ""
    assert (issue.line, issue.col) == (4, 4)
    assert "check the indentation" in issue.message
    assert str(issue).startswith(f"{FILE}:4:4: ")


def test_tab_indentation_is_a_syntax_error():
    issue = one_issue("version: 1\ndomains:\n\t- name: go.localhost\n")
    assert (issue.line, issue.col) == (3, 1)
    assert "indent YAML with spaces, not tabs" in issue.message


def test_unclosed_quote_points_at_where_it_opens():
    issue = one_issue('version: 1\nlinks:\n  - slug: "abc\n')
    assert (issue.line, issue.col) == (3, 11)
    assert "never closed" in issue.message


def test_two_documents_are_an_error():
    issue = one_issue("version: 1\n---\nversion: 1\n")
    assert issue.line == 2
    assert "single document" in issue.message


def test_every_duplicate_key_is_reported_with_the_first_line():
    text = yaml(
        """
        version: 1
        domains:
          - name: go.localhost
            root_url: https://a.example/
            root_url: https://b.example/
        links: []
        links: []
        """
    )
    issues = issues_of(text)
    assert [(i.field, i.line, i.col, i.message) for i in issues] == [
        ("domains[0].root_url", 5, 5, "duplicate key `root_url` (first written on line 4)"),
        ("links", 7, 1, "duplicate key `links` (first written on line 6)"),
    ]


def test_duplicate_keys_do_not_hide_other_errors():
    text = HEAD + "links:\n  - {domain: go.localhost, slug: a, slug: b, url: ftp://x}\n"
    assert [i.field for i in issues_of(text)] == ["links[0].slug", "links[0].url"]


def test_unsupported_tag_is_an_error_at_the_value():
    text = HEAD + "links:\n  - {domain: go.localhost, slug: a, url: !Ref Url}\n"
    assert_issue(text, "links[0].url", "!Ref", "unsupported YAML tag !Ref")


def test_empty_file():
    issue = one_issue("# nothing yet\n")
    assert (issue.line, issue.col, issue.field) == (1, 1, "")
    assert "the file is empty" in issue.message
    assert "version: 1" in issue.message


def test_root_must_be_a_mapping():
    issue = one_issue("- version: 1\n")
    assert (issue.line, issue.col, issue.field) == (1, 1, "")
    assert "the top level must be a mapping" in issue.message


def test_missing_version_points_at_the_root_and_other_errors_still_show():
    text = "domains:\n  - name: go.localhost:80\n"
    issues = issues_of(text)
    assert [(i.field, i.line, i.col) for i in issues] == [
        ("version", 1, 1),
        ("domains[0].name", 2, 11),
    ]
    assert issues[0].message == "missing required key `version`"


def test_unsupported_version_is_the_only_issue():
    text = "version: 2\nlinks: {nonsense: true}\n"
    issue = assert_issue(text, "version", "2", "unsupported version 2")
    assert "version 1" in issue.message


def test_version_must_be_a_number():
    assert_issue('version: "1"\n', "version", '"1"', "expected a whole number")


def test_unknown_top_level_key_points_at_the_key():
    text = "version: 1\nlink: []\n"
    assert_issue(text, "link", "link", "unknown key `link`; did you mean `links`?")


def test_sections_of_the_wrong_type():
    issues = issues_of("version: 1\ndomains: {name: x}\nplatforms: [meta]\n")
    assert [(i.field, i.message) for i in issues] == [
        ("domains", "expected a list"),
        ("platforms", "expected a mapping (key: value)"),
    ]


def test_unreadable_file_is_an_issue_at_line_zero(tmp_path):
    missing = tmp_path / "nope.yaml"
    try:
        load_config(missing)
    except ConfigError as exc:
        (issue,) = exc.issues
    assert (issue.file, issue.line, issue.col) == (str(missing), 0, 0)
    assert "cannot read" in issue.message


def test_non_utf8_file_is_an_issue(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9\n")
    try:
        load_config(path)
    except ConfigError as exc:
        (issue,) = exc.issues
    assert (issue.line, issue.message) == (2, "the file is not UTF-8 text")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffversion: 1\n".encode())
    assert load_config(path).version == 1


def test_load_config_reads_a_file_and_names_it_in_issues(tmp_path):
    path = tmp_path / "links.yaml"
    path.write_text("version: 1\nlinks: [{}]\n")
    try:
        load_config(path)
    except ConfigError as exc:
        assert all(i.file == str(path) for i in exc.issues)
        assert str(exc).splitlines()[0].startswith(f"{path}:2:")


def test_error_text_is_one_line_per_issue():
    text = HEAD + "links:\n  - {domain: go.localhost, slug: -a, url: ftp://x}\n"
    try:
        load_config_text(text, "my.yaml")
    except ConfigError as exc:
        lines = str(exc).splitlines()
    line, col = at(text, "-a,")
    assert lines[0] == (
        f"my.yaml:{line}:{col} links[0].slug: "
        "expected 1 to 64 letters, digits, `-` or `_`, starting with a letter or digit"
    )
    line, col = at(text, "ftp")
    assert lines[1] == f"my.yaml:{line}:{col} links[0].url: URL must start with https:// or http://"
    assert len(lines) == 2


def test_issue_str_without_a_field():
    assert str(ConfigIssue("f.yaml", 3, 4, "", "boom")) == "f.yaml:3:4: boom"
    assert str(ConfigIssue("f.yaml", 3, 4, "links[0]", "boom")) == "f.yaml:3:4 links[0]: boom"


def test_a_self_referencing_alias_is_an_error_not_a_hang():
    text = "version: 1\nlinks: &loop\n  - *loop\n"
    assert any("refer to itself" in i.message for i in issues_of(text))


def test_alias_bomb_is_refused():
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    issue = issues_of("\n".join(lines) + "\n")[0]
    assert "too many values" in issue.message


def test_a_character_yaml_forbids_is_reported_where_it_is():
    issue = one_issue("version: 1\nx: a\x00b\n")
    assert (issue.line, issue.col, issue.field) == (2, 5, "")
    assert "a character YAML does not allow" in issue.message


def test_standard_but_unsupported_tags_are_named_briefly():
    text = (
        HEAD + "links: [{domain: go.localhost, slug: !!binary aGVsbG8=, url: https://x.example/}]\n"
    )
    assert_issue(text, "links[0].slug", "!!binary", "unsupported YAML tag !!binary")


def test_an_impossible_date_is_reported_once():
    text = (
        HEAD
        + "links: [{domain: go.localhost, slug: a, url: https://x.example/, expires_at: 2026-02-30}]\n"
    )
    assert_issue(
        text, "links[0].expires_at", "2026-02-30", "cannot read this value: day is out of range"
    )


DESIGN_TEXT = (Path(__file__).parent / "fixtures" / "design_example.yaml").read_text()


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda cut, length, insert: DESIGN_TEXT[:cut] + insert + DESIGN_TEXT[cut + length :],
            st.integers(0, len(DESIGN_TEXT)),
            st.integers(0, 40),
            st.sampled_from(["", " ", "\n", ":", "- ", "{", "[", "'", "\t", "&a", "*a", "!x", "~"]),
        ),
    )
)
def test_any_text_gives_a_config_or_positioned_issues_never_a_crash(text):
    try:
        load_config_text(text, FILE)
    except ConfigError as exc:
        assert exc.issues
        lines = text.count("\n") + 2
        assert all(1 <= i.line <= lines and i.col >= 1 and i.message for i in exc.issues)
