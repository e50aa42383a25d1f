package exam

import (
	"context"
	"crypto/subtle"

	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
)

func subtleEq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// StaffMember is an exam-staff account of a site.
type StaffMember struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Chief    bool   `json:"chief"`
	hash     string
}

// Staff lists the exam staff of a site (exam_staff granted on the site or
// inside it).
func (s *Service) Staff(ctx context.Context, site string) ([]StaffMember, error) {
	o, err := s.siteOrg(ctx, site)
	if err != nil {
		return nil, err
	}
	vs, err := s.ids.RoleVerifiers(ctx, identity.RoleExamStaff, o.ID)
	if err != nil {
		return nil, err
	}
	ids, err := db.Column[int64](ctx, s.db, "SELECT user_id FROM exam_chiefs WHERE site_code = ?", o.Code)
	if err != nil {
		return nil, err
	}
	chiefs := make(map[int64]bool, len(ids))
	for _, id := range ids {
		chiefs[id] = true
	}
	out := []StaffMember{}
	for _, v := range vs {
		out = append(out, StaffMember{UserID: v.UserID, Username: v.Username, Name: v.DisplayName, Chief: chiefs[v.UserID], hash: v.PasswordHash})
	}
	return out, nil
}

// StaffInput creates an exam-staff account for a site.
type StaffInput struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Chief    bool   `json:"chief"`
}

// CreateStaff makes an account holding exam_staff on the site (managers
// of an exam at that site only). The person changes the password at first
// sign-in.
func (s *Service) CreateStaff(ctx context.Context, p *identity.Principal, examID int64, site string, in StaffInput) (StaffMember, error) {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return StaffMember{}, err
	}
	o, err := s.siteOrg(ctx, site)
	if err != nil {
		return StaffMember{}, err
	}
	must := true
	u, err := s.ids.CreateUser(ctx, nil, identity.UserInput{OrgID: o.ID, Username: in.Username, DisplayName: in.Name, Password: in.Password,
		Roles: []identity.Role{identity.RoleExamStaff}, MustChangePassword: &must})
	if err != nil {
		return StaffMember{}, err
	}
	if in.Chief {
		if err := s.SetChief(ctx, p, examID, site, u.ID, true); err != nil {
			return StaffMember{}, err
		}
	}
	return StaffMember{UserID: u.ID, Username: u.Username, Name: u.DisplayName, Chief: in.Chief}, nil
}

// SetChief marks or unmarks a site's staff member as chief proctor (主考).
func (s *Service) SetChief(ctx context.Context, p *identity.Principal, examID int64, site string, userID int64, chief bool) error {
	if _, err := s.MayManage(ctx, p, examID); err != nil {
		return err
	}
	staff, err := s.Staff(ctx, site)
	if err != nil {
		return err
	}
	found := false
	for _, st := range staff {
		found = found || st.UserID == userID
	}
	if !found {
		return apperr.New(apperr.NotFound, "err.not_found")
	}
	if chief {
		_, err = s.db.Exec(ctx, "INSERT INTO exam_chiefs (site_code, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING", site, userID)
	} else {
		_, err = s.db.Exec(ctx, "DELETE FROM exam_chiefs WHERE site_code = ? AND user_id = ?", site, userID)
	}
	return err
}
