package problem

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Languages of problem documents. English is the default; Vietnamese is
// given to clients that prefer it (Accept-Language: vi), with every text
// Vietnamese: titles, details and field errors. Specific English details
// (which may quote input) are not embedded; producers that can say it in
// Vietnamese set DetailVI, and the rest is said generically from the type,
// status and field error code.
const (
	LangEN = "en"
	LangVI = "vi"
)

// Language picks the language of a response from an Accept-Language
// header: the supported tag (vi, en) with the highest q, English on a tie
// or when neither is named.
func Language(acceptLanguage string) string {
	best, bestQ := LangEN, 0.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (primary == LangVI || primary == LangEN) && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

var titlesVI = map[string]string{
	TypeValidation:           "Yêu cầu không hợp lệ",
	TypeMalformedBody:        "Nội dung yêu cầu sai cú pháp",
	TypeUnauthorized:         "Chưa xác thực",
	TypeForbidden:            "Không có quyền",
	TypeNotFound:             "Không tìm thấy",
	TypeConflict:             "Xung đột với trạng thái hiện tại",
	TypeTooLarge:             "Nội dung yêu cầu quá lớn",
	TypeUnsupportedMediaType: "Kiểu nội dung không được hỗ trợ",
	TypeTooManyRequests:      "Quá nhiều yêu cầu",
	TypeInternal:             "Lỗi máy chủ",
}

var detailsVI = map[string]string{
	TypeMalformedBody:        "nội dung không phải là một đối tượng JSON hợp lệ",
	TypeUnauthorized:         "hãy gửi mã truy cập (bearer token) hoặc chứng thư số của máy khách",
	TypeForbidden:            "thông tin xác thực của bạn không được phép thực hiện thao tác này",
	TypeNotFound:             "tài nguyên được yêu cầu không tồn tại",
	TypeConflict:             "yêu cầu mâu thuẫn với trạng thái hiện tại",
	TypeUnsupportedMediaType: "kiểu nội dung (Content-Type) không được chấp nhận",
	TypeTooManyRequests:      "đã vượt hạn mức yêu cầu; hãy thử lại sau thời gian trong Retry-After",
	TypeInternal:             "không xử lý được yêu cầu; sự cố đã được ghi nhận",
}

var statusTitlesVI = map[int]string{
	http.StatusBadRequest:            "Yêu cầu không hợp lệ",
	http.StatusForbidden:             "Không có quyền",
	http.StatusNotFound:              "Không tìm thấy",
	http.StatusMethodNotAllowed:      "Phương thức không được hỗ trợ",
	http.StatusRequestTimeout:        "Hết thời gian chờ nội dung yêu cầu",
	http.StatusConflict:              "Xung đột với trạng thái hiện tại",
	http.StatusUnprocessableEntity:   "Không thể xử lý yêu cầu",
	http.StatusTooManyRequests:       "Quá nhiều yêu cầu",
	http.StatusServiceUnavailable:    "Dịch vụ tạm thời không khả dụng",
	http.StatusInternalServerError:   "Lỗi máy chủ",
	http.StatusRequestEntityTooLarge: "Nội dung yêu cầu quá lớn",
}

// fieldCodesVI says what each field error code means, for fields whose
// error carries no DetailVI of its own.
var fieldCodesVI = map[string]string{
	"required":           "bắt buộc nhưng chưa có giá trị",
	"format":             "sai định dạng",
	"range":              "nằm ngoài khoảng cho phép",
	"unknown":            "không có trong danh mục",
	"unknown_field":      "trường không có trong lược đồ",
	"type":               "sai kiểu dữ liệu JSON",
	"too_long":           "quá dài",
	"too_many":           "quá nhiều phần tử",
	"duplicate":          "bị trùng lặp",
	"not_allowed":        "không được phép trong trường hợp này",
	"check_digit":        "sai số kiểm tra",
	"invalid_characters": "chứa ký tự không hợp lệ (UTF-8 sai hoặc ký tự điều khiển)",
	"forbidden":          "không thuộc quyền của thông tin xác thực này",
	"unsupported":        "cơ quan tiếp nhận không chấp nhận giá trị này",
	"config":             "cấu hình không hợp lệ",
	"truncated":          "còn các lỗi khác",
}

// Localized returns p as it is said in lang: p itself for English, a
// Vietnamese copy for LangVI.
func (p *Problem) Localized(lang string) *Problem {
	if lang != LangVI || p == nil {
		return p
	}
	out := *p
	out.Title = statusTitlesVI[p.Status]
	if t, ok := titlesVI[p.Type]; ok {
		out.Title = t
	}
	if out.Title == "" {
		out.Title = fmt.Sprintf("Lỗi %d", p.Status)
	}
	switch {
	case p.DetailVI != "":
		out.Detail = p.DetailVI
	case p.Type == TypeValidation:
		out.Detail = fmt.Sprintf("%d trường không hợp lệ", len(p.Errors))
	case detailsVI[p.Type] != "":
		out.Detail = detailsVI[p.Type]
	default:
		out.Detail = ""
	}
	out.Errors = make([]FieldError, len(p.Errors))
	for i, fe := range p.Errors {
		out.Errors[i] = FieldError{Pointer: fe.Pointer, Code: fe.Code, Detail: fe.DetailVI}
		if fe.DetailVI == "" {
			out.Errors[i].Detail = fieldCodesVI[fe.Code]
			if out.Errors[i].Detail == "" {
				out.Errors[i].Detail = "không hợp lệ"
			}
		}
	}
	return &out
}

// languager is a ResponseWriter that knows the language its request asked
// for (the hub's request middleware provides one).
type languager interface{ Language() string }
