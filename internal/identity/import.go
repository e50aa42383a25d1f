package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"unicode"

	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
)

// MaxImportUsers bounds one user import: every new account's password is
// hashed with a memory-hard function, so a file is a few thousand people
// (a school's staff or a grade), not a city.
const MaxImportUsers = 5000

// ImportRow is the report for one line of an import file.
type ImportRow struct {
	Line        int      `json:"line"`
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	OrgCode     string   `json:"org_code"`
	Roles       string   `json:"roles"`
	OK          bool     `json:"ok"`
	Errors      []string `json:"errors,omitempty"`
	// Password is the generated initial password, when the file gave none.
	Password string `json:"initial_password,omitempty"`
}

// ImportReport says what an import did, row by row. Applied is true only
// when every row was valid and all were written together.
type ImportReport struct {
	Total   int         `json:"total"`
	Valid   int         `json:"valid"`
	Invalid int         `json:"invalid"`
	DryRun  bool        `json:"dry_run"`
	Applied bool        `json:"applied"`
	Rows    []ImportRow `json:"rows"`
	Error   string      `json:"error,omitempty"`
}

// importColumns maps each field to the header names Chinese offices use.
var importColumns = map[string][]string{
	"username":     {"用户名", "账号", "帐号", "登录名", "username", "account", "login"},
	"display_name": {"姓名", "名字", "显示名", "name", "display_name", "displayname"},
	"org_code":     {"机构代码", "单位代码", "学校代码", "组织代码", "org_code", "orgcode", "organisation", "organization"},
	"roles":        {"角色", "身份", "roles", "role"},
	"password":     {"初始密码", "密码", "password", "initial_password"},
	"email":        {"邮箱", "电子邮箱", "email", "e-mail", "mail"},
	"phone":        {"手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile"},
}

// roleByName accepts a role key or its Chinese or English name.
func (s *Service) roleByName(name string) (Role, bool) {
	n := tabular.NormalizeHeader(name)
	for _, ri := range s.rbac.Infos() {
		if n == string(ri.Role) || n == tabular.NormalizeHeader(ri.NameZH) || n == tabular.NormalizeHeader(ri.NameEN) {
			return ri.Role, true
		}
	}
	return "", false
}

func splitRoles(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == '、' || r == ',' || r == '，' || r == ';' || r == '；' || r == '/' || r == '|' || unicode.IsSpace(r)
	})
}

// ImportUsers reads a CSV or XLSX file of users and creates them all in one
// transaction, or none when any row is wrong. T translates messages for
// the report.
func (s *Service) ImportUsers(ctx context.Context, actor *Principal, r io.Reader, filename string, lim tabular.Limits,
	dryRun bool, T func(key string, args ...any) string) (*ImportReport, error) {
	if lim.MaxRows == 0 || lim.MaxRows > MaxImportUsers {
		lim.MaxRows = MaxImportUsers
	}
	rep := &ImportReport{DryRun: dryRun}
	tab, err := tabular.Read(r, filename, lim)
	if err != nil {
		return rep, importReadError(err, lim)
	}
	col := map[string]int{}
	for i, hd := range tab.Header {
		n := tabular.NormalizeHeader(hd)
		for field, names := range importColumns {
			for _, name := range names {
				if n == tabular.NormalizeHeader(name) {
					if _, dup := col[field]; dup {
						return rep, apperr.New(apperr.Invalid, "import.err_dup_column", hd)
					}
					col[field] = i
				}
			}
		}
	}
	var missing []string
	for _, f := range []string{"username", "display_name", "org_code", "roles"} {
		if _, ok := col[f]; !ok {
			missing = append(missing, importColumns[f][0])
		}
	}
	if len(missing) > 0 {
		return rep, apperr.New(apperr.Invalid, "import.err_missing_columns", strings.Join(missing, "、"))
	}
	if len(tab.Rows) == 0 {
		return rep, apperr.New(apperr.Invalid, "import.err_empty")
	}
	cell := func(row tabular.Row, f string) string {
		i, ok := col[f]
		if !ok || i >= len(row.Cells) {
			return ""
		}
		return strings.TrimSpace(row.Cells[i])
	}

	orgs := map[string]*Org{}
	seen := map[string]int{}
	inputs := make([]UserInput, len(tab.Rows))
	for i, row := range tab.Rows {
		ir := ImportRow{Line: row.Line, Username: strings.ToLower(cell(row, "username")), DisplayName: cell(row, "display_name"),
			OrgCode: cell(row, "org_code"), Roles: cell(row, "roles")}
		bad := func(key string, args ...any) { ir.Errors = append(ir.Errors, T(key, args...)) }
		in := UserInput{Username: ir.Username, DisplayName: ir.DisplayName, Email: cell(row, "email"), Phone: cell(row, "phone"),
			Password: cell(row, "password")}
		if in.Password == "" {
			ir.Password = generatePassword()
			in.Password = ir.Password
		}
		if prev, dup := seen[ir.Username]; dup && ir.Username != "" {
			bad("import.err_dup_username", prev)
		} else {
			seen[ir.Username] = row.Line
		}
		o, ok := orgs[ir.OrgCode]
		if !ok && ir.OrgCode != "" {
			found, err := getOrgByCode(ctx, s.db, ir.OrgCode)
			if err != nil && !errors.Is(err, db.ErrNotFound) {
				return rep, err
			}
			if err == nil {
				o = &found
			}
			orgs[ir.OrgCode] = o
		}
		switch {
		case ir.OrgCode == "":
			bad("import.err_org_missing")
		case o == nil:
			bad("import.err_org_unknown", ir.OrgCode)
		case !actor.CanIn(PermUserManage, *o):
			bad("import.err_org_forbidden", ir.OrgCode)
		default:
			in.OrgID = o.ID
		}
		for _, rn := range splitRoles(ir.Roles) {
			role, ok := s.roleByName(rn)
			if !ok {
				bad("import.err_role_unknown", rn)
				continue
			}
			if role == RolePlatformAdmin && (o == nil || !actor.HasRoleOver(RolePlatformAdmin, *o)) {
				bad("import.err_role_too_high", rn)
				continue
			}
			in.Roles = append(in.Roles, role)
		}
		mc := true
		in.MustChangePassword = &mc
		if err := s.validateUser(&in, true); err != nil {
			if e := apperr.As(err); e != nil {
				for _, f := range []string{"username", "display_name", "email", "phone", "password", "roles"} {
					if k, ok := e.Fields[f]; ok && !(f == "roles" && len(ir.Errors) > 0 && ir.Roles != "") {
						bad("import.field_"+f, T(k))
					}
				}
			}
		}
		if len(ir.Errors) == 0 {
			if _, err := getUserByName(ctx, s.db, in.Username); err == nil {
				bad("import.err_username_exists", in.Username)
			} else if !errors.Is(err, db.ErrNotFound) {
				return rep, err
			}
		}
		ir.OK = len(ir.Errors) == 0
		if ir.OK {
			rep.Valid++
		} else {
			rep.Invalid++
		}
		inputs[i] = in
		rep.Rows = append(rep.Rows, ir)
	}
	rep.Total = len(tab.Rows)
	if rep.Invalid > 0 || dryRun {
		if rep.Invalid == 0 {
			// A dry run never hands out passwords that will not exist.
			for i := range rep.Rows {
				if rep.Rows[i].Password != "" {
					rep.Rows[i].Password = "******"
				}
			}
		}
		return rep, nil
	}
	hashes, err := s.hashAll(ctx, inputs)
	if err != nil {
		return rep, err
	}
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		for i, in := range inputs {
			if _, err := s.createUserTx(ctx, tx, actor, in, hashes[i]); err != nil {
				return fmt.Errorf("line %d: %w", rep.Rows[i].Line, err)
			}
		}
		return nil
	})
	if err != nil {
		// Someone took a user name meanwhile, or the database failed:
		// nothing was written.
		if e := apperr.As(err); e != nil && e.Code == apperr.Invalid {
			rep.Error = err.Error()
			return rep, apperr.Wrap(apperr.Conflict, err, "import.err_conflict")
		}
		return rep, err
	}
	rep.Applied = true
	return rep, nil
}

// hashAll hashes every row's password using all cores.
func (s *Service) hashAll(ctx context.Context, in []UserInput) ([]string, error) {
	out := make([]string, len(in))
	errs := make([]error, len(in))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = HashPassword(in[i].Password)
			}
		}()
	}
	for i := range in {
		select {
		case next <- i:
		case <-ctx.Done():
			close(next)
			wg.Wait()
			return nil, ctx.Err()
		}
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

func generatePassword() string {
	// 12 characters from an alphabet without look-alikes, with a digit.
	const alpha = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
	const digits = "23456789"
	b := []byte(randomString(16))
	out := make([]byte, 12)
	for i := range out {
		if i%4 == 3 {
			out[i] = digits[int(b[i])%len(digits)]
		} else {
			out[i] = alpha[int(b[i])%len(alpha)]
		}
	}
	return string(out)
}

func importReadError(err error, lim tabular.Limits) error {
	switch {
	case errors.Is(err, tabular.ErrTooLarge):
		return apperr.Wrap(apperr.TooLarge, err, "import.err_too_large", lim.MaxBytes>>20)
	case errors.Is(err, tabular.ErrTooManyRows):
		return apperr.Wrap(apperr.TooLarge, err, "import.err_too_many_rows", lim.MaxRows)
	default:
		return apperr.Wrap(apperr.Invalid, err, "import.err_read", err.Error())
	}
}

// ---- handlers ----

type importData struct {
	Report *ImportReport
	DryRun bool
}

func (h *Handlers) importPage(w http.ResponseWriter, r *http.Request) error {
	return h.page(w, r, "import", "import.title", importData{})
}

func (h *Handlers) runImport(r *http.Request) (*ImportReport, error) {
	f, fh, err := r.FormFile("file")
	if err != nil {
		return nil, apperr.Field("file", "import.err_no_file")
	}
	defer f.Close()
	dry := r.FormValue("dry_run") == "1" || r.FormValue("dry_run") == "on" || r.URL.Query().Get("dry_run") == "1"
	lang := web.Lang(r.Context())
	T := func(key string, args ...any) string { return h.rd.Translator().T(lang, key, args...) }
	rep, err := h.svc.ImportUsers(r.Context(), PrincipalFrom(r.Context()), f, fh.Filename, h.limits, dry, T)
	if rep != nil {
		Note(r.Context(), "import:"+fh.Filename, fmt.Sprintf("rows=%d valid=%d invalid=%d dry_run=%v applied=%v",
			rep.Total, rep.Valid, rep.Invalid, rep.DryRun, rep.Applied))
	}
	return rep, err
}

func (h *Handlers) importSubmit(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.runImport(r)
	d := importData{Report: rep, DryRun: rep != nil && rep.DryRun}
	if err != nil {
		return h.rd.FormError(w, r, "identity/import", web.Page{Title: "import.title", Data: d}, err)
	}
	p := web.Page{Title: "import.title", Data: d}
	status := http.StatusOK
	switch {
	case rep.Applied:
		p.Flash = "import.applied"
	case rep.Invalid > 0:
		p.Error = h.rd.T(r, "import.rejected", rep.Invalid)
		status = http.StatusUnprocessableEntity
	default:
		p.Flash = "import.dry_ok"
	}
	return h.rd.Render(w, r, status, "identity/import", p)
}

func (h *Handlers) importTemplate(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="users-template.csv"`)
	return tabular.WriteCSV(w, []string{"用户名", "姓名", "机构代码", "角色", "初始密码", "邮箱", "手机"}, [][]string{
		{"zhangsan", "张三", "S-JN01", "教师", "", "zhangsan@example.cn", "13800000000"},
		{"lisi", "李四", "S-JN01", "教师、评卷员", "", "", ""},
	})
}

func (h *Handlers) apiImport(w http.ResponseWriter, r *http.Request) error {
	if err := web.ParseForm(w, r, h.limits.MaxBytes+1<<20); err != nil {
		return err
	}
	rep, err := h.runImport(r)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if rep.Invalid > 0 {
		status = http.StatusUnprocessableEntity
	}
	return web.JSON(w, status, rep)
}
