package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
)

// errInvalidToken is returned for a bearer token no authenticator knows.
var errInvalidToken = errors.New("invalid bearer token")

// NewTokenFile returns an Authenticator for the bearer tokens listed in the
// static token file at path (--token-auth-file), in upstream's CSV format,
// one user per line:
//
//	token,user,uid,"group1,group2"
//
// The groups column is optional. Empty lines are skipped. A line with fewer
// than three columns, an empty token or user, or a token already used on an
// earlier line is an error naming the line.
func NewTokenFile(path string) (Authenticator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open token file: %w", err)
	}
	defer f.Close()
	tokens, err := parseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return tokens, nil
}

// tokenEntry is one token of a token file; the token is kept only as its
// SHA-256 digest so that comparisons take the same time for every entry.
type tokenEntry struct {
	digest [sha256.Size]byte
	user   User
}

type tokenFile []tokenEntry

var _ Authenticator = tokenFile(nil)

func parseTokens(r io.Reader) (tokenFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	var (
		tokens tokenFile
		seen   = map[[sha256.Size]byte]int{}
	)
	for {
		record, err := cr.Read()
		if err == io.EOF {
			return tokens, nil
		}
		if err != nil {
			return nil, err // *csv.ParseError names the line.
		}
		line, _ := cr.FieldPos(0)
		if len(record) < 3 {
			return nil, fmt.Errorf("line %d: want at least 3 columns (token, user, uid), found %d", line, len(record))
		}
		token, name, uid := strings.TrimSpace(record[0]), strings.TrimSpace(record[1]), strings.TrimSpace(record[2])
		if token == "" {
			return nil, fmt.Errorf("line %d: empty token", line)
		}
		if name == "" {
			return nil, fmt.Errorf("line %d: empty user name", line)
		}
		digest := sha256.Sum256([]byte(token))
		if first, dup := seen[digest]; dup {
			return nil, fmt.Errorf("line %d: token already used on line %d", line, first)
		}
		seen[digest] = line
		user := User{Name: name, UID: uid}
		if len(record) > 3 {
			for g := range strings.SplitSeq(record[3], ",") {
				if g = strings.TrimSpace(g); g != "" && !slices.Contains(user.Groups, g) {
					user.Groups = append(user.Groups, g)
				}
			}
		}
		tokens = append(tokens, tokenEntry{digest: digest, user: user})
	}
}

func (t tokenFile) Authenticate(r *http.Request) (*User, bool, error) {
	token, ok := bearerToken(r)
	if !ok {
		return nil, false, nil
	}
	digest := sha256.Sum256([]byte(token))
	found := -1
	for i := range t { // no early exit: every lookup compares every entry
		if subtle.ConstantTimeCompare(digest[:], t[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil, false, errInvalidToken
	}
	u := t[found].user
	u.Groups = slices.Clone(u.Groups)
	return &u, true, nil
}

// bearerToken returns the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
