package identity

import (
	"fmt"
	"slices"
	"sort"

	"jnedu/internal/platform/web"
)

// Role is a named set of permissions, granted over an organisation subtree.
type Role string

const (
	RolePlatformAdmin    Role = "platform_admin"    // 平台管理员
	RoleSchoolAdmin      Role = "school_admin"      // 学校管理员
	RoleTeacher          Role = "teacher"           // 教师
	RoleStudent          Role = "student"           // 学生
	RoleExamStaff        Role = "exam_staff"        // 考务人员
	RoleExaminer         Role = "examiner"          // 评卷员
	RoleSecurityOp       Role = "security_op"       // 安全运维
	RoleEditor           Role = "editor"            // 编辑
	RoleDeviceMaintainer Role = "device_maintainer" // 设备运维
)

// Permissions of the identity subsystem and the portal. Other subsystems
// declare their own with RBAC.Define.
const (
	PermPortal      web.Perm = "portal.view"
	PermOrgRead     web.Perm = "org.read"
	PermOrgManage   web.Perm = "org.manage"
	PermUserRead    web.Perm = "user.read"
	PermUserManage  web.Perm = "user.manage"
	PermAuditRead   web.Perm = "audit.read"
	PermAdminTokens web.Perm = "token.admin"
)

// RoleInfo describes a role for people.
type RoleInfo struct {
	Role   Role   `json:"role"`
	NameZH string `json:"name_zh"`
	NameEN string `json:"name_en"`
}

// RBAC maps roles to permissions. It is built at start-up (subsystems add
// their permissions then) and read-only while serving.
type RBAC struct {
	roles []RoleInfo
	perms map[Role]map[web.Perm]bool
	known map[web.Perm]bool
}

// NewRBAC returns the built-in roles with the identity permissions.
func NewRBAC() *RBAC {
	r := &RBAC{
		roles: []RoleInfo{
			{RolePlatformAdmin, "平台管理员", "Platform administrator"},
			{RoleSchoolAdmin, "学校管理员", "School administrator"},
			{RoleTeacher, "教师", "Teacher"},
			{RoleStudent, "学生", "Student"},
			{RoleExamStaff, "考务人员", "Exam staff"},
			{RoleExaminer, "评卷员", "Examiner"},
			{RoleSecurityOp, "安全运维", "Security operator"},
			{RoleEditor, "编辑", "Editor"},
			{RoleDeviceMaintainer, "设备运维", "Device maintainer"},
		},
		perms: map[Role]map[web.Perm]bool{},
		known: map[web.Perm]bool{},
	}
	all := r.Roles()
	r.Define(PermPortal, all...)
	r.Define(PermOrgRead, RolePlatformAdmin, RoleSchoolAdmin, RoleExamStaff, RoleSecurityOp, RoleDeviceMaintainer)
	r.Define(PermOrgManage, RolePlatformAdmin, RoleSchoolAdmin)
	r.Define(PermUserRead, RolePlatformAdmin, RoleSchoolAdmin)
	r.Define(PermUserManage, RolePlatformAdmin, RoleSchoolAdmin)
	r.Define(PermAuditRead, RolePlatformAdmin, RoleSecurityOp)
	r.Define(PermAdminTokens, RolePlatformAdmin)
	return r
}

// Define declares a permission and grants it to roles. Call at start-up.
func (r *RBAC) Define(p web.Perm, roles ...Role) {
	r.known[p] = true
	for _, role := range roles {
		if !r.Valid(role) {
			panic(fmt.Sprintf("rbac: unknown role %q", role))
		}
		if r.perms[role] == nil {
			r.perms[role] = map[web.Perm]bool{}
		}
		r.perms[role][p] = true
	}
}

// Roles lists the role keys in display order.
func (r *RBAC) Roles() []Role {
	out := make([]Role, len(r.roles))
	for i, ri := range r.roles {
		out[i] = ri.Role
	}
	return out
}

// Infos lists the roles with their names.
func (r *RBAC) Infos() []RoleInfo { return slices.Clone(r.roles) }

// Name returns a role's name in lang.
func (r *RBAC) Name(role Role, lang string) string {
	for _, ri := range r.roles {
		if ri.Role == role {
			if lang == web.LangEN {
				return ri.NameEN
			}
			return ri.NameZH
		}
	}
	return string(role)
}

// Valid reports whether role exists.
func (r *RBAC) Valid(role Role) bool {
	return slices.ContainsFunc(r.roles, func(ri RoleInfo) bool { return ri.Role == role })
}

// Known reports whether a permission was declared.
func (r *RBAC) Known(p web.Perm) bool { return r.known[p] }

// Has reports whether role carries permission p.
func (r *RBAC) Has(role Role, p web.Perm) bool { return r.perms[role][p] }

// Permissions lists a role's permissions, sorted.
func (r *RBAC) Permissions(role Role) []web.Perm {
	var out []web.Perm
	for p := range r.perms[role] {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
