package yamlx

import (
	"reflect"
	"strings"
	"testing"
)

type base struct {
	Name string `yaml:"name"`
}

type target struct {
	base           `yaml:",inline"`
	PasswordFile   string         `yaml:"password_file"`
	PasswordEnv    string         `yaml:"password_env"`
	MaxConnections int            `yaml:"max_connections"`
	TopN           map[string]int `yaml:"top_n"`
	Timeout        string
	Ignored        string `yaml:"-"`
}

type cfg struct {
	Targets struct {
		Postgres []*target `yaml:"postgres"`
	} `yaml:"targets"`
	Byname map[string]target `yaml:"byname"`
	Packs  []string          `yaml:"packs"`
}

func TestSuggest(t *testing.T) {
	typ := reflect.TypeOf(&cfg{})
	for _, c := range []struct{ path, key, want string }{
		{"targets.postgres[0]", "max_conections", "max_connections"}, // one letter short
		{"targets.postgres[3]", "maxConnections", "max_connections"}, // camel case
		{"targets.postgres[0]", "nmae", "name"},                      // inline field, transposed
		{"targets.postgres[0]", "timout", "timeout"},                 // untagged: lower-cased field name
		{"targets.postgres[0]", "ignored", ""},                       // yaml:"-" is no key
		{"targets.postgres[0]", "password", ""},                      // nothing close
		{"targets", "postgre", "postgres"},
		{"the top level", "pack", "packs"},
		{"byname.primary", "max_connection", "max_connections"}, // through a map
		{"targets.redis[0]", "addr", ""},                        // a path the type does not have
		{"the top level", "x", ""},                              // one letter: every short key is within 2
	} {
		if got := suggest(typ, c.path, c.key); got != c.want {
			t.Errorf("suggest(%s, %q) = %q, want %q", c.path, c.key, got, c.want)
		}
	}
}

func TestDecodeStrictSuggests(t *testing.T) {
	var out cfg
	err := DecodeStrict("c.yml", []byte("targets:\n  postgres:\n    - name: a\n      max_conections: 3\n"), &out)
	if err == nil || !strings.Contains(err.Error(), `c.yml:4: unknown key "max_conections" in targets.postgres[0] (did you mean "max_connections"?)`) {
		t.Fatalf("got %v", err)
	}
	err = DecodeStrict("c.yml", []byte("targets:\n  postgres:\n    - password: x\n"), &out)
	if err == nil || !strings.Contains(err.Error(), `c.yml:3: unknown key "password" in targets.postgres[0] (it is read from a file or the environment: password_file or password_env)`) {
		t.Fatalf("got %v", err)
	}
	err = DecodeStrict("c.yml", []byte("packs: [a]\nbogus_setting: 1\n"), &out)
	if err == nil || strings.Contains(err.Error(), "did you mean") || !strings.Contains(err.Error(), `c.yml:2: unknown key "bogus_setting"`) {
		t.Fatalf("got %v", err)
	}
}

// TestTypeErrorsNameTheKey: on a line with two keys (a flow mapping), each wrong value's
// error says whose it is.
func TestTypeErrorsNameTheKey(t *testing.T) {
	type pool struct {
		Size int `yaml:"size"`
		DB   int `yaml:"db"`
	}
	var out struct {
		Pools []pool `yaml:"pools"`
	}
	err := DecodeStrict("c.yml", []byte("pools:\n  - {size: x, db: y}\n"), &out)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`c.yml:2: pools[0].size: invalid value "x": want an integer`, `c.yml:2: pools[0].db: invalid value "y": want an integer`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err.Error(), want)
		}
	}
}
