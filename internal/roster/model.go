// Package roster holds the student-status and organisation data (学籍) of
// the schools: students, teachers, classes with their grade and school
// year, and who is enrolled in or teaches which class. It imports the
// files school systems export (Chinese CSV/XLSX, OneRoster 1.2 CSV), keeps
// national ID numbers encrypted and shows them masked, answers who may see
// whom, and offers a small Go API (api.go) and the roster.imported event to
// the indicators.
package roster

import (
	"jnedu/internal/identity"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/web"
)

// Permissions of the roster.
const (
	// PermView opens the roster pages; what each person sees is decided
	// per object: managers their subtree, teachers the classes they teach,
	// students themselves.
	PermView web.Perm = "roster.view"
	// PermManage imports and exports, and sees every class and person of
	// the organisations the grant covers.
	PermManage web.Perm = "roster.manage"
)

// DefinePermissions grants the subsystem's permissions to the roles.
func DefinePermissions(r *identity.RBAC) {
	r.Define(PermView, identity.RolePlatformAdmin, identity.RoleSchoolAdmin, identity.RoleTeacher, identity.RoleStudent)
	r.Define(PermManage, identity.RolePlatformAdmin, identity.RoleSchoolAdmin)
}

// Tiles for the portal.
func Tiles() []identity.Tile {
	return []identity.Tile{
		{Key: "roster.tile", DescKey: "roster.tile_desc", Href: "/roster", Perm: PermView, Group: "roster.group"},
		{Key: "roster.tile_import", DescKey: "roster.tile_import_desc", Href: "/roster/import", Perm: PermManage, Group: "roster.group"},
	}
}

// Person kinds.
const (
	KindStudent = "student"
	KindTeacher = "teacher"
)

// Statuses of roster rows.
const (
	StatusActive  = "active"
	StatusDeleted = "tobedeleted"
)

// School is a school organisation with its roster counts.
type School struct {
	OrgID    int64  `json:"org_id"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	Classes  int    `json:"classes"`
	Students int    `json:"students"`
	Teachers int    `json:"teachers"`
}

// Class is a class (班级).
type Class struct {
	ID         int64  `json:"id"`
	Source     string `json:"source"`
	SourcedID  string `json:"sourced_id"`
	OrgID      int64  `json:"org_id"`
	Name       string `json:"name"`
	Grade      string `json:"grade"`
	GradeName  string `json:"grade_name"`
	SchoolYear string `json:"school_year"`
	Type       string `json:"type"` // homeroom or scheduled
	Subject    string `json:"subject,omitempty"`
	Students   int    `json:"students"`
	UpdatedAt  int64  `json:"updated_at"`
	orgPath    string
}

// Person is a student or a teacher as every view shows them: the ID number
// only masked.
type Person struct {
	ID            int64  `json:"id"`
	Kind          string `json:"kind"`
	Source        string `json:"source"`
	SourcedID     string `json:"sourced_id"`
	OrgID         int64  `json:"org_id"`
	Number        string `json:"number"` // 学籍号 or 工号
	Name          string `json:"name"`
	Gender        string `json:"gender"`
	GenderName    string `json:"gender_name"`
	BirthDate     string `json:"birth_date,omitempty"`
	Ethnicity     string `json:"ethnicity,omitempty"`
	EthnicityName string `json:"ethnicity_name,omitempty"`
	Grade         string `json:"grade,omitempty"`
	IDMasked      string `json:"id_number_masked,omitempty"`
	UserID        int64  `json:"user_id,omitempty"`
	UpdatedAt     int64  `json:"updated_at"`
	orgPath       string
}

// Enrolment is a person's place in a class.
type Enrolment struct {
	ClassID     int64  `json:"class_id"`
	PersonID    int64  `json:"person_id"`
	Role        string `json:"role"` // student, head_teacher, teacher
	Subject     string `json:"subject,omitempty"`
	SubjectName string `json:"subject_name,omitempty"`
}

// ClassDetail is a class with its teachers and students.
type ClassDetail struct {
	Class    Class          `json:"class"`
	School   string         `json:"school"`
	Teachers []ClassTeacher `json:"teachers"`
	Students []Person       `json:"students"`
	// StudentsHidden is set when the caller may see the class but not
	// its students.
	StudentsHidden bool `json:"students_hidden,omitempty"`
}

// ClassTeacher is a teacher of a class with their role and subject.
type ClassTeacher struct {
	Person
	Role        string `json:"role"`
	Subject     string `json:"subject,omitempty"`
	SubjectName string `json:"subject_name,omitempty"`
}

// PersonDetail is a person with their classes.
type PersonDetail struct {
	Person  Person       `json:"person"`
	School  string       `json:"school"`
	Classes []Membership `json:"classes"`
}

// TopicImported is published (through the outbox, in the import's
// transaction) after every applied import, so the indicators can refresh
// what depends on the roster.
var TopicImported = events.NewTopic[ImportedEvent]("roster.imported")

// ImportedEvent says what an import changed.
type ImportedEvent struct {
	Source     string  `json:"source"`
	Format     string  `json:"format"`
	ActorID    int64   `json:"actor_id,omitempty"`
	OrgIDs     []int64 `json:"org_ids"` // the schools whose roster changed
	Classes    Counts  `json:"classes"`
	Students   Counts  `json:"students"`
	Teachers   Counts  `json:"teachers"`
	Enrolments Counts  `json:"enrolments"`
}

// Counts of rows an import created, updated and withdrew.
type Counts struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Deleted int `json:"deleted"`
}
