/*
 * roundtrip.c tests BuildEI and LineProgram: "roundtrip N" encodes N with
 * ei_encode_long, decodes it with ei_decode_long and answers "N SIZE",
 * SIZE being the bytes of the encoding; other commands are errors.
 */
#include <stdio.h>
#include <string.h>

#include <ei.h>

int main(void)
{
	char cmd[32], buf[16];
	long v, got;
	int n, i;
	while (scanf("%31s", cmd) == 1) {
		if (strcmp(cmd, "roundtrip") == 0 && scanf("%ld", &v) == 1) {
			n = 0;
			i = 0;
			if (ei_encode_long(buf, &n, v) < 0 || ei_decode_long(buf, &i, &got) < 0)
				printf("error cannot encode %ld\n", v);
			else
				printf("%ld %d\n", got, i);
		} else {
			printf("error unknown command %s\n", cmd);
		}
		fflush(stdout);
	}
	return 0;
}
