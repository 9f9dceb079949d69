package config

import (
	"errors"
	"fmt"
	"strings"
)

// errNoCommand is returned by SplitCommand for a blank command line.
var errNoCommand = errors.New("empty command")

// SplitCommand splits a command line from the file into program and
// arguments the way a POSIX shell splits words, but without expanding
// anything: single quotes keep everything literally, double quotes keep
// everything but a backslash before `"` or `\`, and outside quotes a backslash
// keeps the next character. Commands are run directly, never through a shell,
// so that a value in the file cannot smuggle in shell syntax.
func SplitCommand(s string) ([]string, error) {
	var (
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune // 0, '\'' or '"'
		escaped bool // after a backslash outside quotes
		dqEsc   bool // after a backslash inside double quotes
	)
	for _, r := range s {
		switch {
		case escaped:
			word.WriteRune(r)
			escaped = false
		case dqEsc:
			if r != '"' && r != '\\' {
				word.WriteRune('\\')
			}
			word.WriteRune(r)
			dqEsc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				dqEsc = true
			default:
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == '\\':
			escaped = true
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case escaped:
		return nil, fmt.Errorf("command %q ends with a lone backslash", s)
	case quote != 0:
		return nil, fmt.Errorf("command %q has an unclosed %c quote", s, quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, errNoCommand
	}
	return words, nil
}
