package v1alpha1

// DefaultSystemNamespace is the controller's own namespace unless --system-namespace
// says otherwise. Objects there apply to every tenant: the provider's guardrails.
const DefaultSystemNamespace = "klaxon-system"

// ObjectReference names a Klaxon object in the referencing object's own namespace or,
// when namespace is set, in the provider's namespace (klaxon-system). A reference into
// another tenant's namespace is refused: the referencing object reports Ready=False
// with reason CrossTenantReference.
type ObjectReference struct {
	// Name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the referenced object: empty for the referencing object's own
	// namespace, or the provider's namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// SecretReference names a Secret in the referencing object's own namespace. Secrets are
// never read across namespaces.
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
