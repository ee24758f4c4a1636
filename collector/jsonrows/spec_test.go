package jsonrows

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expr
	}{
		{"number_of_nodes", Expr{Sources: []Ref{{Path: []string{"number_of_nodes"}}}}},
		{"jvm.mem.heap_used_in_bytes", Expr{Sources: []Ref{{Path: []string{"jvm", "mem", "heap_used_in_bytes"}}}}},
		{"$key", Expr{Sources: []Ref{{Kind: RefKey}}}},
		{"^^$key", Expr{Sources: []Ref{{Kind: RefKey, Up: 2}}}},
		{"^name", Expr{Sources: []Ref{{Up: 1, Path: []string{"name"}}}}},
		{"$value", Expr{Sources: []Ref{{Kind: RefValue}}}},
		{"$cluster", Expr{Sources: []Ref{{Kind: RefCluster}}}},
		{"$.cluster_name", Expr{Sources: []Ref{{Root: true, Path: []string{"cluster_name"}}}}},
		{"'heap'", Expr{Sources: []Ref{{Kind: RefLiteral, Literal: "heap"}}}},
		{"'a, b | c'", Expr{Sources: []Ref{{Kind: RefLiteral, Literal: "a, b | c"}}}},
		{"failed_step?", Expr{Sources: []Ref{{Path: []string{"failed_step"}, Optional: true}}}},
		{"a.b, c | ratio", Expr{Sources: []Ref{{Path: []string{"a", "b"}}, {Path: []string{"c"}}}, Funcs: []Func{{Name: "ratio"}}}},
		{"$key | in search, write", Expr{Sources: []Ref{{Kind: RefKey}}, Funcs: []Func{{Name: "in", Arg: "search, write", Args: []string{"search", "write"}}}}},
		{"reason | truncate 20 | default none", Expr{Sources: []Ref{{Path: []string{"reason"}}},
			Funcs: []Func{{Name: "truncate", Arg: "20", N: 20}, {Name: "default", Arg: "none"}}}},
		{"x | since ms", Expr{Sources: []Ref{{Path: []string{"x"}}}, Funcs: []Func{{Name: "since", Arg: "ms"}}}},
		{"disk.used | div ^disk.total", Expr{Sources: []Ref{{Path: []string{"disk", "used"}}},
			Funcs: []Func{{Name: "div", Arg: "^disk.total", Ref: &Ref{Up: 1, Path: []string{"disk", "total"}}}}}},
		{"stop | sub start", Expr{Sources: []Ref{{Path: []string{"stop"}}},
			Funcs: []Func{{Name: "sub", Arg: "start", Ref: &Ref{Path: []string{"start"}}}}}},
		{"^db | find id=database.id, repo-key=$.k | get version", Expr{Sources: []Ref{{Up: 1, Path: []string{"db"}}},
			Funcs: []Func{
				{Name: "find", Arg: "id=database.id, repo-key=$.k", Match: []FuncMatch{
					{Key: []string{"id"}, Ref: Ref{Path: []string{"database", "id"}}},
					{Key: []string{"repo-key"}, Ref: Ref{Root: true, Path: []string{"k"}}}}},
				{Name: "get", Arg: "version", Path: []string{"version"}}}}},
		{"x | exists | map true=y, false=n", Expr{Sources: []Ref{{Path: []string{"x"}}},
			Funcs: []Func{{Name: "exists"}, {Name: "map", Arg: "true=y, false=n", Pairs: map[string]string{"true": "y", "false": "n"}}}}},
		{"t | datetime s", Expr{Sources: []Ref{{Path: []string{"t"}}}, Funcs: []Func{{Name: "datetime", Arg: "s"}}}},
	} {
		got, err := ParseExpr(tc.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tc.in, err)
			continue
		}
		tc.want.Text = tc.in
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseExpr(%q) = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"":                "has no source",
		"| ratio":         "has no source",
		"a | frobnicate":  `unknown function "frobnicate"`,
		"a | ratio 3":     "ratio takes no argument",
		"a | eq":          "eq needs an argument",
		"a | since h":     "since takes ms or s",
		"a | truncate -2": "needs a positive integer",
		"a | div":         "div needs an argument",
		"a | div b..c":    "div: path \"b..c\" has an empty part",
		"a | sub":         "sub needs an argument",
		"a | get b..c":    "get: path \"b..c\" has an empty part",
		"a | map y":       "map takes A=X,B=Y",
		"a | map =y":      "map takes A=X,B=Y",
		"a | find id":     "find takes KEY=SOURCE",
		"a | find id=$x":  "find: unknown variable $x",
		"a | datetime h":  "datetime takes ms or s",
		"a..b":            "empty part",
		"'open":           "not closed",
		"$nope":           "unknown variable $nope",
		"^$cluster":       "$cluster takes no ^",
		"^$.a":            "$. starts at the root",
		"^":               "^ needs a path",
		"a, ":             "empty source",
		"nodes.$key":      "has one of",
	} {
		_, err := ParseExpr(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExpr(%q): error %v, want one with %q", in, err, want)
		}
	}
	if e, _ := ParseExpr("a?, b?"); !e.Optional() {
		t.Error("a?, b? should be optional")
	}
	if e, _ := ParseExpr("a?, b"); e.Optional() {
		t.Error("a?, b should not be optional")
	}
	if e, _ := ParseExpr("a | exists"); !e.Optional() {
		t.Error("a | exists should be optional: absence is its answer")
	}
}

func TestParseRows(t *testing.T) {
	steps, err := ParseRows("nodes.*.fs.data.*")
	if err != nil {
		t.Fatal(err)
	}
	want := []RowStep{{Key: "nodes"}, {Wildcard: true, Key: "*"}, {Key: "fs"}, {Key: "data"}, {Wildcard: true, Key: "*"}}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("got %+v", steps)
	}
	if _, err := ParseRows("nodes.*.name"); err == nil || !strings.Contains(err.Error(), "must end with *") {
		t.Errorf("rows not ending with *: %v", err)
	}
}
