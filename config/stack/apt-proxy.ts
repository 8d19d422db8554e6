// The users' apt proxy as the containers see it: its name on the users' network and port.
export const APT_PROXY_HOST = "semail-apt-proxy";
export const APT_PROXY_PORT = 3142;
