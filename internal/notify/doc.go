// Package notify delivers notifications about incidents through NotificationChannels
// and knows what each channel type needs to do so.
package notify
